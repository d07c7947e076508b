package restore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
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
		if err := r.deleteExtraIn(troot, dir, o.names, o.renames); err != nil {
			return err
		}
	}
	return nil
}

// deleteExtraIn removes what dir holds that want lacks, after moving each
// of renames into place when the target still holds the base's file.
func (r *restorer) deleteExtraIn(troot *os.Root, dir string, want map[string]string, renames []rename) error {
	d, err := openDir(troot, dir)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil // not in the target yet, or removed as an entry of another kind
	}
	if err != nil {
		return fmt.Errorf("restore target: %s: %w", dir, err)
	}
	defer d.close()
	for _, rn := range renames {
		r.reuse(d, rn)
	}
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

// rename is a file of the base (from, holding base's content) that the
// snapshot has under another name of the same directory (to) and no longer
// under its own: a log rotated, a database's recycled segment.
type rename struct {
	from, to string
	base     *repository.Node
}

// reusable pairs the new files of the snapshot's directory t (no base of
// their own) with files of the base's directory bt whose content is the
// same, chunk for chunk, and which the snapshot no longer has under their
// own name (it lacks the name, or has other content there): the restore
// moves such a file to its new name instead of writing its content again.
// Hard-linked files are left out.
func reusable(t, bt *repository.Tree, inBase map[string]*repository.Node) []rename {
	key := func(n *repository.Node) string {
		b := make([]byte, 0, 8+len(n.Content)*len(pack.ID{}))
		b = binary.LittleEndian.AppendUint64(b, n.Size)
		for _, id := range n.Content {
			b = append(b, id[:]...)
		}
		return string(b)
	}
	inSnapshot := make(map[string]*repository.Node, len(t.Nodes))
	for i := range t.Nodes {
		inSnapshot[t.Nodes[i].Name] = &t.Nodes[i]
	}
	donors := map[string][]*repository.Node{}
	for i := range bt.Nodes {
		b := &bt.Nodes[i]
		if b.Type != repository.TypeFile || b.Links > 1 || len(b.Content) == 0 {
			continue
		}
		if n := inSnapshot[b.Name]; n == nil || n.Type != repository.TypeFile || !slices.Equal(n.Content, b.Content) {
			donors[key(b)] = append(donors[key(b)], b)
		}
	}
	if len(donors) == 0 {
		return nil
	}
	var out []rename
	for i := range t.Nodes {
		n := &t.Nodes[i]
		if n.Type != repository.TypeFile || n.Links > 1 || inBase[n.Name] != nil || len(n.Content) == 0 {
			continue
		}
		k := key(n)
		if ds := donors[k]; len(ds) > 0 {
			out = append(out, rename{from: ds[0].Name, to: n.Name, base: ds[0]})
			donors[k] = ds[1:]
		}
	}
	return out
}

// reuse moves rn.from to rn.to in d if the target still holds the base's
// file there (its size and modification time, one name) and nothing is at
// rn.to; otherwise it does nothing and the file is written as any other.
// The moved file then holds the snapshot's content, and fileAction keeps
// it when its size and time are the snapshot's, as for any file.
func (r *restorer) reuse(d *dirHandle, rn rename) {
	st, err := d.lstat(rn.from)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || !sameSizeAndTime(&st, rn.base) {
		return
	}
	if unix.Renameat2(d.fd(), rn.from, d.fd(), rn.to, unix.RENAME_NOREPLACE) == nil {
		r.count(func(res *Result) { res.Renamed++ })
	}
}
