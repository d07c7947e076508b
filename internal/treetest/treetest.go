// Package treetest builds directory trees with every kind of metadata that
// lifeboat keeps, and compares two trees byte for byte and attribute by
// attribute. Tests of backup and restore use it.
package treetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RequireRoot skips a test that needs root, or fails it under CI=true,
// where the suite must run completely.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root, and CI runs as root")
	}
	t.Skip("needs root")
}

// RequireTool returns the path of a program a test needs; without it the
// test is skipped, or fails under CI=true (.ci/run installs it).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI needs %s (.ci/run installs it): %v", name, err)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// RandomBytes returns n reproducible pseudo-random bytes.
func RandomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// posixACL encodes a system.posix_acl_access value: owner rw, user uid r,
// group r, mask r, other r.
func posixACL(uid uint32) []byte {
	const undefined = 0xffffffff
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w(uint32(2)) // version
	for _, e := range []struct {
		tag, perm uint16
		id        uint32
	}{{0x01, 6, undefined}, {0x02, 4, uid}, {0x04, 4, undefined}, {0x10, 4, undefined}, {0x20, 4, undefined}} {
		w(e.tag)
		w(e.perm)
		w(e.id)
	}
	return b.Bytes()
}

// capNetBindService encodes security.capability (revision 2, effective)
// granting CAP_NET_BIND_SERVICE.
func capNetBindService() []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000001)
	binary.LittleEndian.PutUint32(b[4:], 1<<10)
	return b
}

// Build fills dir (which must exist) with every kind of entry and metadata:
// regular files small and large, empty files and directories, setuid,
// setgid and sticky modes, foreign owners, nanosecond mtimes, user xattrs,
// a POSIX ACL, a file capability, symlinks (relative, absolute, dangling),
// hard links, a sparse file, a fifo, device nodes, and a name that is not
// UTF-8. It also sets the directory's own owner and mode. Needs root.
func Build(t testing.TB, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// chmod takes raw st_mode bits: os.Chmod would drop 0o7000.
	chmod := func(p string, mode uint32) { t.Helper(); must(unix.Chmod(p, mode)) }
	write := func(rel string, data []byte, mode uint32) {
		t.Helper()
		p := filepath.Join(dir, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, data, 0o600))
		chmod(p, mode)
	}
	write("hello.txt", []byte("hello, lifeboat\n"), 0o644)
	write("empty", nil, 0o600)
	write("big/random.bin", RandomBytes(1, 5<<20+123), 0o640)
	write("big/text.log", bytes.Repeat([]byte("2026-11-28 INFO request served in 3ms\n"), 80000), 0o644)
	write("deep/a/b/c/d/leaf", []byte("leaf"), 0o444)
	write("bin/setuid", []byte("#!/bin/sh\n"), 0o4755)
	write("bin/setgid", []byte("#!/bin/sh\n"), 0o2711)
	write("bin/cap", []byte("pretend binary"), 0o755)
	must(os.MkdirAll(filepath.Join(dir, "emptydir"), 0o700))
	must(os.MkdirAll(filepath.Join(dir, "tmp"), 0o777))
	chmod(filepath.Join(dir, "tmp"), 0o1777)
	must(os.MkdirAll(filepath.Join(dir, "shared"), 0o755))
	chmod(filepath.Join(dir, "shared"), 0o2775)
	write("owned/by-app", []byte("app data"), 0o600)
	must(os.Lchown(filepath.Join(dir, "owned/by-app"), 999, 998))
	// Bits a usual umask (022) takes away, and a foreign setuid file (chown
	// clears setuid, so the mode must be set after the owner).
	write("shared/group-writable", []byte("for the group"), 0o664)
	write("owned/setuid-app", []byte("#!/bin/sh\n"), 0o755)
	must(os.Lchown(filepath.Join(dir, "owned/setuid-app"), 999, 998))
	chmod(filepath.Join(dir, "owned/setuid-app"), 0o4750)
	must(os.Lchown(filepath.Join(dir, "owned"), 70000, 70001))
	must(unix.Setxattr(filepath.Join(dir, "hello.txt"), "user.origin", []byte("treetest"), 0))
	must(unix.Setxattr(filepath.Join(dir, "hello.txt"), "user.binary", []byte{0, 1, 2, 255}, 0))
	must(unix.Setxattr(filepath.Join(dir, "owned"), "user.dir", []byte("on a directory"), 0))
	must(unix.Setxattr(filepath.Join(dir, "owned/by-app"), "system.posix_acl_access", posixACL(1000), 0))
	must(unix.Setxattr(filepath.Join(dir, "bin/cap"), "security.capability", capNetBindService(), 0))
	must(os.Symlink("hello.txt", filepath.Join(dir, "link-rel")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "link-abs")))
	must(os.Symlink("does/not/exist", filepath.Join(dir, "link-dangling")))
	must(os.Link(filepath.Join(dir, "hello.txt"), filepath.Join(dir, "deep/hardlink")))
	must(os.Link(filepath.Join(dir, "hello.txt"), filepath.Join(dir, "hardlink2")))
	// Sparse: 64 MiB with data at 1 MiB and 40 MiB only.
	sp, err := os.Create(filepath.Join(dir, "sparse.img"))
	must(err)
	must(sp.Truncate(64 << 20))
	_, err = sp.WriteAt([]byte("data in the middle"), 1<<20)
	must(err)
	_, err = sp.WriteAt(RandomBytes(7, 100000), 40<<20)
	must(err)
	must(sp.Close())
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o620))
	must(unix.Mknod(filepath.Join(dir, "devnull"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(filepath.Join(dir, "blockdev"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200))))
	write("caf\xe9-latin1", []byte("not utf-8 name"), 0o644)
	// Nanosecond mtimes, set last (children first so parents keep theirs).
	var paths []string
	must(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	sort.Sort(sort.Reverse(sort.StringSlice(paths)))
	for i, p := range paths {
		ts := []unix.Timespec{unix.NsecToTimespec(1700000000_123456789 + int64(i)*1_000_000_007), unix.NsecToTimespec(1700000000_123456789 + int64(i)*1_000_000_007)}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	must(os.Lchown(dir, 4242, 4343))
	chmod(dir, 0o750)
	must(unix.UtimesNanoAt(unix.AT_FDCWD, dir, []unix.Timespec{unix.NsecToTimespec(1600000000_000000001), unix.NsecToTimespec(1600000000_000000001)}, 0))
}

// entry is what Compare looks at for one path.
type entry struct {
	typ        uint32
	mode       uint32
	uid, gid   uint32
	mtime      int64
	size       int64
	blocks     int64
	rdev       uint64
	link       string
	xattrs     string
	content    []byte
	inodeGroup string // first path sharing the inode
}

func scan(root string) (map[string]entry, error) {
	out := map[string]entry{}
	inodes := map[[2]uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		e := entry{typ: st.Mode & unix.S_IFMT, mode: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid,
			mtime: st.Mtim.Nano(), rdev: st.Rdev, blocks: st.Blocks}
		switch e.typ {
		case unix.S_IFREG:
			e.size = st.Size
			if e.content, err = os.ReadFile(p); err != nil {
				return err
			}
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := inodes[key]; ok {
				e.inodeGroup = first
			} else {
				inodes[key] = rel
				e.inodeGroup = rel
			}
		case unix.S_IFLNK:
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		e.xattrs = xattrString(p)
		out[rel] = e
		return nil
	})
	return out, err
}

func xattrString(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "error: " + err.Error()
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var sb strings.Builder
	val := make([]byte, 64<<10)
	for _, name := range names {
		if name == "" {
			continue
		}
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			fmt.Fprintf(&sb, "%s=error:%v;", name, err)
			continue
		}
		fmt.Fprintf(&sb, "%s=%x;", name, val[:m])
	}
	return sb.String()
}

// Compare reports every difference between two trees: names, types,
// content, mode, owner, nanosecond mtime, xattrs (ACLs and capabilities
// included), symlink targets, device numbers, hard-link grouping, and that
// sparse files did not lose their holes. The roots' own metadata counts.
func Compare(src, dst string) error {
	a, err := scan(src)
	if err != nil {
		return err
	}
	b, err := scan(dst)
	if err != nil {
		return err
	}
	var diffs []string
	for p, x := range a {
		y, ok := b[p]
		if !ok {
			diffs = append(diffs, "missing: "+p)
			continue
		}
		check := func(what string, eq bool, xv, yv any) {
			if !eq {
				diffs = append(diffs, fmt.Sprintf("%s: %s %v != %v", p, what, xv, yv))
			}
		}
		check("type", x.typ == y.typ, x.typ, y.typ)
		check("mode", x.mode == y.mode, fmt.Sprintf("%o", x.mode), fmt.Sprintf("%o", y.mode))
		check("owner", x.uid == y.uid && x.gid == y.gid, [2]uint32{x.uid, x.gid}, [2]uint32{y.uid, y.gid})
		check("mtime", x.mtime == y.mtime, x.mtime, y.mtime)
		check("rdev", x.rdev == y.rdev, x.rdev, y.rdev)
		check("symlink", x.link == y.link, x.link, y.link)
		check("xattrs", x.xattrs == y.xattrs, x.xattrs, y.xattrs)
		check("size", x.size == y.size, x.size, y.size)
		check("content", bytes.Equal(x.content, y.content), len(x.content), len(y.content))
		check("hard link group", x.inodeGroup == y.inodeGroup, x.inodeGroup, y.inodeGroup)
		if x.typ == unix.S_IFREG && x.blocks*512 < x.size {
			check("sparse blocks", y.blocks <= x.blocks+16, x.blocks, y.blocks)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, "extra: "+p)
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return errors.New(strings.Join(diffs, "\n"))
	}
	return nil
}
