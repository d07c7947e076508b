package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
	"golang.org/x/sys/unix"
)

// lstatNode describes the entry at path without following a final symlink.
func lstatNode(path, name string) (repository.Node, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return repository.Node{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	n := nodeFromStat(name, &st)
	if n.Type == repository.TypeSymlink {
		target, err := readlink(path)
		if err != nil {
			return n, err
		}
		n.LinkTarget = target
	}
	xa, err := readXattrs(path)
	if err != nil {
		return n, err
	}
	n.Xattrs = xa
	return n, nil
}

func nodeFromStat(name string, st *unix.Stat_t) repository.Node {
	n := repository.Node{
		Name:       name,
		Mode:       st.Mode & 0o7777,
		UID:        st.Uid,
		GID:        st.Gid,
		ModTime:    st.Mtim.Nano(),
		ChangeTime: st.Ctim.Nano(),
		Inode:      st.Ino,
		Device:     st.Dev,
		Links:      uint64(st.Nlink),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		n.Type = repository.TypeFile
		n.Size = uint64(st.Size)
		n.Sparse = st.Size > 0 && st.Blocks*512 < st.Size
	case unix.S_IFDIR:
		n.Type = repository.TypeDir
	case unix.S_IFLNK:
		n.Type = repository.TypeSymlink
	case unix.S_IFIFO:
		n.Type = repository.TypeFifo
	case unix.S_IFCHR:
		n.Type = repository.TypeChar
		n.Rdev = st.Rdev
	case unix.S_IFBLK:
		n.Type = repository.TypeBlock
		n.Rdev = st.Rdev
	case unix.S_IFSOCK:
		n.Type = repository.TypeSocket
	}
	if n.Type != repository.TypeFile || n.Links < 2 {
		// Inode numbers are only needed to pair hard links; dropping them
		// elsewhere keeps tree blobs equal across copies of a tree.
		n.Device, n.Links = 0, 0
	}
	return n
}

func readlink(path string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlink(path, buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: path, Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// readXattrs lists every extended attribute of path (not following a
// final symlink), sorted by name. A file system without xattrs gives none.
func readXattrs(path string) ([]repository.Xattr, error) {
	size, err := unix.Llistxattr(path, nil)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
			return nil, nil
		}
		return nil, &fs.PathError{Op: "listxattr", Path: path, Err: err}
	}
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	size, err = unix.Llistxattr(path, buf)
	if err != nil {
		return nil, &fs.PathError{Op: "listxattr", Path: path, Err: err}
	}
	var out []repository.Xattr
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		v, err := getxattr(path, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s of %s: %w", name, path, err)
		}
		out = append(out, repository.Xattr{Name: name, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func getxattr(path, name string) ([]byte, error) {
	for {
		size, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
