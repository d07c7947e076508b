package restore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/repository"
	"golang.org/x/sys/unix"
)

// dirHandle is an open directory inside the restore target. Every change
// is made relative to it with a single, validated name, and never follows
// a symlink at the final component, so nothing is written outside the
// target: the directory itself was reached through os.Root, which refuses
// paths that leave the root.
type dirHandle struct {
	f *os.File
}

func openDir(root *os.Root, rel string) (*dirHandle, error) {
	if rel == "" {
		rel = "."
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: not a directory", rel)
	}
	return &dirHandle{f: f}, nil
}

func (d *dirHandle) fd() int      { return int(d.f.Fd()) }
func (d *dirHandle) close() error { return d.f.Close() }

func (d *dirHandle) mkdir(name string) error {
	return unix.Mkdirat(d.fd(), name, 0o700)
}

// lstat describes an existing entry, or returns an error wrapping ENOENT.
func (d *dirHandle) lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// create creates a new, empty file; it fails if name exists.
func (d *dirHandle) create(name string) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// createTemp creates a new, empty file with a temporary name numbered by
// seq, so that workers writing into one directory do not collide.
func (d *dirHandle) createTemp(prefix string, seq *atomic.Uint64) (*os.File, string, error) {
	for {
		name := prefix + strconv.FormatUint(uint64(os.Getpid()), 36) + "-" + strconv.FormatUint(seq.Add(1), 36)
		fd, err := unix.Openat(d.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue // left by an earlier run with our pid
		}
		if err != nil {
			return nil, "", err
		}
		return os.NewFile(uintptr(fd), name), name, nil
	}
}

func (d *dirHandle) rename(from, to string) error {
	return unix.Renameat(d.fd(), from, d.fd(), to)
}

func (d *dirHandle) remove(name string) error {
	return unix.Unlinkat(d.fd(), name, 0)
}

func (d *dirHandle) symlink(target, name string) error {
	return unix.Symlinkat(target, d.fd(), name)
}

func (d *dirHandle) mknod(n *repository.Node) error {
	mode := n.Mode & 0o7777
	switch n.Type {
	case repository.TypeFifo:
		mode |= unix.S_IFIFO
	case repository.TypeChar:
		mode |= unix.S_IFCHR
	case repository.TypeBlock:
		mode |= unix.S_IFBLK
	case repository.TypeSocket:
		mode |= unix.S_IFSOCK
	}
	return unix.Mknodat(d.fd(), n.Name, mode, int(n.Rdev))
}

// setMeta applies ownership, mode, xattrs and times to the entry name.
// fd, if not nil, is the entry itself opened (a file or a directory) and is
// preferred over name-based calls. Ownership is set first because chown
// clears setuid/setgid bits and file capabilities. Ownership errors are
// ignored when not running as root, like cp -p.
func (d *dirHandle) setMeta(name string, n *repository.Node, fd *os.File) error {
	if fd != nil {
		if err := fd.Chown(int(n.UID), int(n.GID)); err != nil && os.Geteuid() == 0 {
			return err
		}
		if err := unix.Fchmod(int(fd.Fd()), n.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: name, Err: err}
		}
		for _, x := range n.Xattrs {
			if err := unix.Fsetxattr(int(fd.Fd()), x.Name, x.Value, 0); err != nil {
				return &os.PathError{Op: "setxattr " + x.Name, Path: name, Err: err}
			}
		}
	} else {
		if err := unix.Fchownat(d.fd(), name, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil && os.Geteuid() == 0 {
			return &os.PathError{Op: "chown", Path: name, Err: err}
		}
		if n.Type != repository.TypeSymlink {
			if err := unix.Fchmodat(d.fd(), name, n.Mode&0o7777, 0); err != nil {
				return &os.PathError{Op: "chmod", Path: name, Err: err}
			}
		}
		// The /proc path names the entry through our directory descriptor;
		// lsetxattr does not follow the final symlink.
		p := path.Join("/proc/self/fd", strconv.Itoa(d.fd()), name)
		for _, x := range n.Xattrs {
			if err := unix.Lsetxattr(p, x.Name, x.Value, 0); err != nil {
				return &os.PathError{Op: "setxattr " + x.Name, Path: name, Err: err}
			}
		}
	}
	return d.setTimes(name, n)
}

func (d *dirHandle) setTimes(name string, n *repository.Node) error {
	ts := []unix.Timespec{unix.NsecToTimespec(n.ModTime), unix.NsecToTimespec(n.ModTime)}
	if err := unix.UtimesNanoAt(d.fd(), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: name, Err: err}
	}
	return nil
}

// openSubdir opens a directory entry without following a symlink.
func (d *dirHandle) openSubdir(name string) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func (d *dirHandle) link(oldDir *dirHandle, oldName, name string) error {
	return unix.Linkat(oldDir.fd(), oldName, d.fd(), name, 0)
}
