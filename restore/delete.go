package restore

import (
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/lifeboat-backup/lifeboat/repository"
	"golang.org/x/sys/unix"
)

// deleteExtra makes the target hold nothing the snapshot does not: in
// every directory the snapshot has, an entry that the snapshot lacks, or
// whose kind differs (a directory where the snapshot has a file, a symlink
// where it has a directory), is removed, a directory with all it holds.
// It runs before the restore writes, so that what replaces an entry of
// another kind can be created. Entries are looked at without following
// symlinks and removed through the target's os.Root, so nothing outside
// the target is touched.
func (r *restorer) deleteExtra(troot *os.Root, ops []*op) error {
	want := map[string]map[string]string{"": {}}
	for _, o := range ops {
		if want[o.dir] == nil {
			want[o.dir] = map[string]string{}
		}
		want[o.dir][o.node.Name] = o.node.Type
		if o.kind == opDir {
			if want[o.rel()] == nil {
				want[o.rel()] = map[string]string{}
			}
		}
	}
	// Parents before children (ops are in pre-order), so that a directory
	// is listed only once it is known to be a real directory.
	dirs := []string{""}
	for _, o := range ops {
		if o.kind == opDir {
			dirs = append(dirs, o.rel())
		}
	}
	gone := map[string]bool{}
	for _, dir := range dirs {
		if gone[dir] {
			continue
		}
		d, err := openDir(troot, dir)
		if errors.Is(err, os.ErrNotExist) {
			continue // not in the target yet
		}
		if err != nil {
			return fmt.Errorf("restore target: %s: %w", dir, err)
		}
		names, err := d.f.Readdirnames(-1)
		if err != nil {
			d.close()
			return fmt.Errorf("restore target: %s: %w", dir, err)
		}
		for _, name := range names {
			typ, inSnapshot := want[dir][name]
			if inSnapshot {
				st, err := d.lstat(name)
				if err != nil {
					d.close()
					return fmt.Errorf("restore target: %s: %w", path.Join(dir, name), err)
				}
				isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
				if isDir == (typ == repository.TypeDir) {
					continue // same kind: the restore brings it up to date
				}
			}
			p := path.Join(dir, name)
			if err := troot.RemoveAll(p); err != nil {
				d.close()
				return fmt.Errorf("restore target: remove %s: %w", p, err)
			}
			gone[p] = true
			r.count(func(res *Result) { res.Deleted++ })
		}
		d.close()
	}
	return nil
}
