package restore

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/lifeboat-backup/lifeboat/repository"
	"golang.org/x/sys/unix"
)

// The entries of a restore other than file contents: directories and
// their metadata, links, symlinks and special files, and what to do with
// an entry already in the target.

func (r *restorer) count(f func(*Result)) {
	r.mu.Lock()
	f(&r.res)
	r.mu.Unlock()
}

func (r *restorer) makeDir(o *op) error {
	d, release, err := r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	defer release()
	err = d.mkdir(o.node.Name)
	if errors.Is(err, unix.EEXIST) {
		st, serr := d.lstat(o.node.Name)
		if serr != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return wrap(o, errors.New("exists and is not a directory"))
		}
		err = nil
	}
	if err == nil {
		r.count(func(res *Result) { res.Dirs++ })
	}
	return wrap(o, err)
}

func (r *restorer) dirMeta(o *op) error {
	d, release, err := r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	defer release()
	f, err := d.openSubdir(o.node.Name)
	if err != nil {
		return wrap(o, err)
	}
	defer f.Close()
	return wrap(o, d.setMeta(o.node.Name, o.node, f))
}

// rootMeta gives the target directory the owner, mode, xattrs and times of
// the backed-up root.
func rootMeta(root *os.Root, target string, n *repository.Node) error {
	if n.Type != repository.TypeDir {
		return nil
	}
	d, err := openDir(root, "")
	if err != nil {
		return err
	}
	defer d.close()
	parent, err := os.Open(filepath.Dir(filepath.Clean(target)))
	if err != nil {
		return err
	}
	defer parent.Close()
	return (&dirHandle{f: parent}).setMeta(filepath.Base(filepath.Clean(target)), n, d.f)
}

// existing decides about an entry already present under name; it reports
// whether the restore should leave it alone.
func (r *restorer) existing(d *dirHandle, n *repository.Node) (keep bool, err error) {
	if r.staged {
		return false, nil // a fresh directory that only we write to
	}
	st, err := d.lstat(n.Name)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch r.opts.Overwrite {
	case OverwriteNever:
		return true, nil
	case OverwriteIfChanged:
		if st.Mode&unix.S_IFMT == unix.S_IFREG && uint64(st.Size) == n.Size && st.Mtim.Nano() == n.ModTime {
			return true, nil
		}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return false, errors.New("a directory is in the way")
	}
	return false, nil
}

// holeBlock is the granularity at which zero runs of sparse files are left
// as holes.
const holeBlock = 4096

// writeSparse writes data at off, skipping zero blocks so that they stay
// holes in a new file.
func writeSparse(f *os.File, data []byte, off int64) error {
	for len(data) > 0 {
		n := holeBlock - int(off%holeBlock)
		if n > len(data) {
			n = len(data)
		}
		if !allZero(data[:n]) {
			if _, err := f.WriteAt(data[:n], off); err != nil {
				return err
			}
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (r *restorer) makeLink(o *op) error {
	d, release, err := r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	defer release()
	if keep, err := r.existing(d, o.node); err != nil || keep {
		return wrap(o, err)
	}
	_ = d.remove(o.node.Name) // replaced by the link (overwrite modes only)
	first, releaseFirst, err := r.dirs.get(o.linkDir)
	if err != nil {
		return wrap(o, err)
	}
	defer releaseFirst()
	if err := d.link(first, o.linkName, o.node.Name); err != nil {
		return wrap(o, err)
	}
	r.count(func(res *Result) { res.Links++; res.LinkBytes += int64(o.node.Size) })
	return nil
}

func (r *restorer) makeOther(o *op) error {
	d, release, err := r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	defer release()
	n := o.node
	if keep, err := r.existing(d, n); err != nil || keep {
		if keep {
			r.count(func(res *Result) { res.Skipped++ })
		}
		return wrap(o, err)
	}
	_ = d.remove(n.Name)
	if n.Type == repository.TypeSymlink {
		err = d.symlink(n.LinkTarget, n.Name)
	} else {
		err = d.mknod(n)
	}
	if err != nil {
		return wrap(o, err)
	}
	r.count(func(res *Result) { res.Others++ })
	return wrap(o, d.setMeta(n.Name, n, nil))
}
