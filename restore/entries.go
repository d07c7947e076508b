package restore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"

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

// fileAction is what the restore does with a regular file of the snapshot.
type fileAction int

const (
	writeFile fileAction = iota // write it whole (under a temporary name if something is there)
	keepFile                    // its content is already right
	patchFile                   // it holds the base's content: write the chunks that differ
)

// fileAction decides about the file o in the light of what the target has
// under its name. A file kept in the if-changed mode gets the snapshot's
// metadata (owner, mode, xattrs, times) where it differs.
func (r *restorer) fileAction(o *op) (fileAction, error) {
	if r.staged {
		return writeFile, nil // a fresh directory that only we write to
	}
	d, release, err := r.dirs.get(o.dir)
	if err != nil {
		return writeFile, wrap(o, err)
	}
	defer release()
	n := o.node
	st, err := d.lstat(n.Name)
	if errors.Is(err, unix.ENOENT) {
		return writeFile, nil
	}
	if err != nil {
		return writeFile, wrap(o, err)
	}
	isFile := st.Mode&unix.S_IFMT == unix.S_IFREG
	switch {
	case r.opts.Overwrite == OverwriteNever:
		return r.kept(o, nil)
	case r.opts.Overwrite != OverwriteIfChanged || !isFile:
	case o.base != nil && sameSizeAndTime(&st, o.base):
		// The target holds the base's content, and the base's xattrs.
		if slices.Equal(o.base.Content, n.Content) {
			if sameMeta(&st, n) && slices.EqualFunc(o.base.Xattrs, n.Xattrs, sameXattr) {
				return r.kept(o, nil)
			}
			return r.kept(o, d.syncMeta(n))
		}
		if st.Nlink == 1 { // a patch must not show through another name
			return patchFile, nil
		}
	case sameSizeAndTime(&st, n):
		return r.kept(o, d.syncMeta(n))
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return writeFile, wrap(o, errors.New("a directory is in the way"))
	}
	return writeFile, nil
}

// kept counts a file the restore leaves as it is (once err, from setting
// its metadata, is nil).
func (r *restorer) kept(o *op, err error) (fileAction, error) {
	if err != nil {
		return keepFile, wrap(o, err)
	}
	r.count(func(res *Result) { res.Skipped++ })
	r.opts.Progress.FilesDone.Add(1)
	r.opts.Progress.BytesDone.Add(int64(o.node.Size))
	return keepFile, nil
}

// sameMeta reports whether an entry has n's owner, mode and modification
// time (the access time is left as reads made it).
func sameMeta(st *unix.Stat_t, n *repository.Node) bool {
	return st.Uid == n.UID && st.Gid == n.GID && st.Mode&0o7777 == n.Mode&0o7777 && st.Mtim.Nano() == n.ModTime
}

func sameXattr(a, b repository.Xattr) bool { return a.Name == b.Name && bytes.Equal(a.Value, b.Value) }

// sameSizeAndTime reports whether an entry has n's size and modification
// time, the sign that it holds n's content.
func sameSizeAndTime(st *unix.Stat_t, n *repository.Node) bool {
	return uint64(st.Size) == n.Size && st.Mtim.Nano() == n.ModTime
}

// existing decides about an entry already present where the snapshot has
// a symlink or special file n; it reports whether the restore should leave
// it alone (only with never: such an entry is cheap to make again, and
// size and time do not tell that it is the same; files are fileAction's).
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
	if r.opts.Overwrite == OverwriteNever {
		return true, nil
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
// holes in a new file; with punch (a file that has content there), a zero
// block is punched out instead.
func writeSparse(f *os.File, data []byte, off int64, punch bool) error {
	for len(data) > 0 {
		n := holeBlock - int(off%holeBlock)
		if n > len(data) {
			n = len(data)
		}
		if !allZero(data[:n]) {
			if _, err := f.WriteAt(data[:n], off); err != nil {
				return err
			}
		} else if punch {
			if err := punchHole(f, off, int64(n)); err != nil {
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

// makeLink makes o a hard link to the first name of its inode. In a target
// that has entries, a name that is already that inode is left alone (in
// every mode but never, whatever is there is checked this way, since the
// first name may have been rewritten); anything else under it is replaced
// at once by a link made under a temporary name.
func (r *restorer) makeLink(o *op) error {
	d, release, err := r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	defer release()
	first, releaseFirst, err := r.dirs.get(o.linkDir)
	if err != nil {
		return wrap(o, err)
	}
	defer releaseFirst()
	name := o.node.Name
	if !r.staged {
		st, err := d.lstat(name)
		switch {
		case errors.Is(err, unix.ENOENT):
		case err != nil:
			return wrap(o, err)
		case r.opts.Overwrite == OverwriteNever:
			return nil
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			return wrap(o, errors.New("a directory is in the way"))
		default:
			if fst, err := first.lstat(o.linkName); err == nil && fst.Ino == st.Ino && fst.Dev == st.Dev {
				r.count(func(res *Result) { res.Links++; res.LinkBytes += int64(o.node.Size) })
				return nil
			}
			name = tempName(tempPrefix, &r.tempSeq)
		}
	}
	if err := d.link(first, o.linkName, name); err != nil {
		return wrap(o, err)
	}
	if name != o.node.Name {
		if err := d.rename(name, o.node.Name); err != nil {
			_ = d.remove(name)
			return wrap(o, err)
		}
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
