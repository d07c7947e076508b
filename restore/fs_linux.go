package restore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

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
	// setgid directories give new entries their group (gid).
	setgid bool
	gid    uint32
}

// owner is a user and a group.
type owner struct{ uid, gid uint32 }

// newOwner is who a file created in d by a process running as me belongs
// to without a chown.
func (d *dirHandle) newOwner(me owner) owner {
	if d.setgid {
		me.gid = d.gid
	}
	return me
}

func openDir(root *os.Root, rel string) (*dirHandle, error) {
	if rel == "" {
		rel = "."
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		f.Close()
		return nil, fmt.Errorf("%s: not a directory", rel)
	}
	return &dirHandle{f: f, setgid: st.Mode&unix.S_ISGID != 0, gid: st.Gid}, nil
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

// create creates a new, empty file with the permissions perm (less the
// umask); it fails if name exists.
func (d *dirHandle) create(name string, perm uint32) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// createTemp creates a new, empty file with a temporary name numbered by
// seq, so that workers writing into one directory do not collide.
func (d *dirHandle) createTemp(prefix string, seq *atomic.Uint64) (*os.File, string, error) {
	for {
		name := tempName(prefix, seq)
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

// tempName is a temporary name: prefix, the process id and the next
// number of seq.
func tempName(prefix string, seq *atomic.Uint64) string {
	return prefix + strconv.FormatUint(uint64(os.Getpid()), 36) + "-" + strconv.FormatUint(seq.Add(1), 36)
}

// openForPatch opens the existing regular file name for writing in place.
// It refuses anything but a regular file with one name, so that a patch
// never writes through a symlink or shows through another hard link.
func (d *dirHandle) openForPatch(name string) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: name, Err: errors.New("changed while the restore ran")}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// syncMeta gives the existing regular file name n's metadata, changing only
// what differs (see syncFileMeta).
func (d *dirHandle) syncMeta(n *repository.Node) error {
	fd, err := unix.Openat(d.fd(), n.Name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: n.Name, Err: err}
	}
	f := os.NewFile(uintptr(fd), n.Name)
	defer f.Close()
	return syncFileMeta(f, n)
}

// syncFileMeta makes the owner, mode, xattrs and times of the open file f
// those of n, with only the calls that change something; xattrs that n
// does not have are removed (where the kernel lets us: a security or
// system attribute it refuses to remove stays).
func syncFileMeta(f *os.File, n *repository.Node) error {
	fd, name := int(f.Fd()), f.Name()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if err := setOwnerMode(fd, name, n, owner{st.Uid, st.Gid}, st.Mode&0o7777); err != nil {
		return err
	}
	if err := syncXattrs(fd, name, n.Xattrs); err != nil {
		return err
	}
	if st.Mtim.Nano() == n.ModTime && st.Atim.Nano() == n.ModTime {
		return nil
	}
	return futimes(fd, name, n.ModTime)
}

// syncXattrs makes the extended attributes of fd exactly xs.
func syncXattrs(fd int, name string, xs []repository.Xattr) error {
	size, err := unix.Flistxattr(fd, nil)
	if err != nil && !errors.Is(err, unix.ENOTSUP) {
		return &os.PathError{Op: "listxattr", Path: name, Err: err}
	}
	if size > 0 {
		buf := make([]byte, size)
		if size, err = unix.Flistxattr(fd, buf); err != nil {
			return &os.PathError{Op: "listxattr", Path: name, Err: err}
		}
		for _, x := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
			if x == "" || slices.ContainsFunc(xs, func(w repository.Xattr) bool { return w.Name == x }) {
				continue
			}
			err := unix.Fremovexattr(fd, x)
			if err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.ENOTSUP) {
				return &os.PathError{Op: "removexattr " + x, Path: name, Err: err}
			}
		}
	}
	return fsetxattrs(fd, name, xs)
}

// punchHole deallocates n bytes of f at off, keeping its size.
func punchHole(f *os.File, off, n int64) error {
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n); err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
		}
		_, err := f.WriteAt(make([]byte, n), off) // no holes here: write the zeros
		return err
	}
	return nil
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
		if err := fsetxattrs(int(fd.Fd()), name, n.Xattrs); err != nil {
			return err
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

// setNewFileMeta is setMeta for a regular file that this restore, running
// as me, created in d with the permissions created: it leaves out the calls
// that would change nothing (an owner that is already right, a mode already
// set), which for many small files are a third of the system calls.
func (d *dirHandle) setNewFileMeta(name string, n *repository.Node, f *os.File, created uint32, me owner) error {
	fd := int(f.Fd())
	// Files with setuid or setgid are never created with them (see
	// restorer.write): their mode differs and is set after the owner.
	if err := setOwnerMode(fd, name, n, d.newOwner(me), created); err != nil {
		return err
	}
	if err := fsetxattrs(fd, name, n.Xattrs); err != nil {
		return err
	}
	return futimes(fd, name, n.ModTime)
}

// setOwnerMode gives the open file fd n's owner and mode, knowing that it
// has the owner have and the mode haveMode: only the calls that change
// something, the owner first, as chown clears setuid and setgid. An owner
// that cannot be set is no error when not running as root, like cp -p.
func setOwnerMode(fd int, name string, n *repository.Node, have owner, haveMode uint32) error {
	chowned := false
	if (owner{n.UID, n.GID}) != have {
		if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil && os.Geteuid() == 0 {
			return &os.PathError{Op: "chown", Path: name, Err: err}
		}
		chowned = true
	}
	if mode := n.Mode & 0o7777; mode != haveMode || (chowned && mode&0o6000 != 0) {
		if err := unix.Fchmod(fd, mode); err != nil {
			return &os.PathError{Op: "chmod", Path: name, Err: err}
		}
	}
	return nil
}

// futimes sets both times of the open entry fd to t (ns since the epoch).
func futimes(fd int, name string, t int64) error {
	// utimensat with no path sets the times of fd itself.
	ts := [2]unix.Timespec{unix.NsecToTimespec(t), unix.NsecToTimespec(t)}
	if _, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0); e != 0 {
		return &os.PathError{Op: "utimes", Path: name, Err: e}
	}
	return nil
}

// fsetxattrs sets the extended attributes xs on the open entry fd (name).
func fsetxattrs(fd int, name string, xs []repository.Xattr) error {
	for _, x := range xs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil {
			return &os.PathError{Op: "setxattr " + x.Name, Path: name, Err: err}
		}
	}
	return nil
}

// umask returns the process's file mode creation mask as /proc tells it
// (Linux 4.7 and later), or false. It is read, never set: setting it to
// learn it would, for a moment, apply to every file the process creates.
func umask() (uint32, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return uint32(m), err == nil
		}
	}
	return 0, false
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
