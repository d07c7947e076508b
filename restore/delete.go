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
// every directory of ops (an opDir, with its entries in names), an entry
// that the snapshot lacks, or whose kind differs (a directory where the
// snapshot has a file, a symlink where it has a directory), is removed, a
// directory with all it holds. It runs before the batch writes, so that
// what replaces an entry of another kind can be created. Directories come
// in pre-order, parents (in this batch or an earlier one) before children,
// so that a directory is listed only once it is known to be a real one;
// one that is not there (yet) has nothing to remove. Entries are looked at
// without following symlinks and removed through the target's os.Root, so
// nothing outside the target is touched.
func (r *restorer) deleteExtra(troot *os.Root, ops []*op) error {
	for _, o := range ops {
		if o.kind != opDir || o.names == nil {
			continue
		}
		dir := ""
		if o.node != nil { // nil: the target itself
			dir = o.rel()
		}
		if err := r.deleteExtraIn(troot, dir, o.names); err != nil {
			return err
		}
	}
	return nil
}

func (r *restorer) deleteExtraIn(troot *os.Root, dir string, want map[string]string) error {
	d, err := openDir(troot, dir)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil // not in the target yet, or removed as an entry of another kind
	}
	if err != nil {
		return fmt.Errorf("restore target: %s: %w", dir, err)
	}
	defer d.close()
	names, err := d.f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("restore target: %s: %w", dir, err)
	}
	for _, name := range names {
		if typ, inSnapshot := want[name]; inSnapshot {
			st, err := d.lstat(name)
			if err != nil {
				return fmt.Errorf("restore target: %s: %w", path.Join(dir, name), err)
			}
			if isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR; isDir == (typ == repository.TypeDir) {
				continue // same kind: the restore brings it up to date
			}
		}
		p := path.Join(dir, name)
		if err := troot.RemoveAll(p); err != nil {
			return fmt.Errorf("restore target: remove %s: %w", p, err)
		}
		r.count(func(res *Result) { res.Deleted++ })
	}
	return nil
}
