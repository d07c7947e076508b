package restore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"golang.org/x/sys/unix"
)

// deltaOpts are the options of a delta restore from base.
func deltaOpts(base *repository.Snapshot) restore.Options {
	return restore.Options{Overwrite: restore.OverwriteIfChanged, Delete: true, Verify: true, Base: base}
}

// writePages overwrites count 8 KiB pages of the file p, spread over it,
// with bytes from seed, as a database would.
func writePages(t *testing.T, p string, seed uint64, count int) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pages := st.Size() / 8192
	for i := range count {
		page := (int64(i)*7919 + 13) % pages
		if _, err := f.WriteAt(treetest.RandomBytes(seed+uint64(i), 8192), page*8192); err != nil {
			t.Fatal(err)
		}
	}
}

// changeTree turns a treetest tree (plus db.bin) into a later state: every
// kind of change a volume sees between two backups.
func changeTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(rel string) string { return filepath.Join(dir, rel) }
	writePages(t, p("db.bin"), 100, 24)                                          // pages rewritten in place
	must(os.WriteFile(p("hello.txt"), []byte("hello again, lifeboat\n"), 0o644)) // small file rewritten
	f, err := os.OpenFile(p("big/random.bin"), os.O_APPEND|os.O_WRONLY, 0)       // appended
	must(err)
	_, err = f.Write(treetest.RandomBytes(7, 300<<10))
	must(err)
	must(f.Close())
	must(os.Truncate(p("big/grow.bin"), 1<<20))                    // shrunk
	must(os.Remove(p("empty")))                                    // removed
	must(os.WriteFile(p("new/added.txt"), []byte("added"), 0o600)) // added in a new directory
	must(os.Chmod(p("hello.txt"), 0o600))                          // metadata only
	must(os.Chtimes(p("unchanged.bin"), time.Unix(1e9, 0), time.Unix(1e9, 0)))
	must(os.RemoveAll(p("will-be-file"))) // a directory becomes a file
	must(os.WriteFile(p("will-be-file"), []byte("now a file"), 0o644))
	must(os.Remove(p("will-be-dir"))) // a file becomes a directory
	must(os.MkdirAll(p("will-be-dir/inside"), 0o755))
}

// buildDeltaTree is treetest's tree and the files changeTree changes.
func buildDeltaTree(t *testing.T, dir string) {
	t.Helper()
	treetest.Build(t, dir)
	mkfile(t, filepath.Join(dir, "db.bin"), string(treetest.RandomBytes(3, 16<<20)))
	mkfile(t, filepath.Join(dir, "big/grow.bin"), string(treetest.RandomBytes(4, 3<<20)))
	mkfile(t, filepath.Join(dir, "unchanged.bin"), string(treetest.RandomBytes(5, 2<<20)))
	mkfile(t, filepath.Join(dir, "will-be-file/x"), "x")
	mkfile(t, filepath.Join(dir, "will-be-dir"), "y")
	if err := os.MkdirAll(filepath.Join(dir, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// restoredCopy backs up a delta tree (snapshot A) and restores it into a
// new target, returning the repository, the source, A and the target.
func restoredCopy(t *testing.T) (*repository.Repository, string, *repository.Snapshot, string) {
	t.Helper()
	treetest.RequireRoot(t)
	r := newRepo(t)
	src := t.TempDir()
	buildDeltaTree(t, src)
	a := backup(t, r, src)
	target := t.TempDir()
	if _, err := restore.Run(context.Background(), r, a, target, restore.Options{Verify: true}); err != nil {
		t.Fatal(err)
	}
	return r, src, a, target
}

// A delta restore brings a copy of snapshot A up to snapshot B exactly, and
// writes little more than the chunks that changed; in batches of any size
// as at once.
func TestDeltaRestoreEqualsSnapshot(t *testing.T) {
	for _, batch := range []int{0, 1, 4} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) { deltaRestoreEqualsSnapshot(t, batch) })
	}
}

func deltaRestoreEqualsSnapshot(t *testing.T, batch int) {
	ctx := context.Background()
	r, src, a, target := restoredCopy(t)
	changeTree(t, src)
	b := backup(t, r, src)
	res, err := restore.Run(ctx, r, b, target, restore.WithBatch(deltaOpts(a), batch))
	if err != nil {
		t.Fatal(err)
	}
	if err := treetest.Compare(src, target); err != nil {
		t.Fatalf("target differs from snapshot B:\n%v", err)
	}
	t.Logf("result %+v", res)
	// db.bin, big/random.bin and big/grow.bin are patched; 24 pages of 8
	// KiB in 32 KiB pieces, one or two re-cut chunks of at most 8 MiB
	// around the append, and the small files: far less than the volume.
	if res.Patched < 3 {
		t.Errorf("%d files patched, want db.bin, big/random.bin and big/grow.bin", res.Patched)
	}
	if limit := int64(24*32<<10 + 2*8<<20 + 1<<20); res.Written > limit {
		t.Errorf("%d bytes written, want at most %d", res.Written, limit)
	}
	if res.Verified != res.Files || res.Files == 0 {
		t.Errorf("verified %d of %d written files", res.Verified, res.Files)
	}
	if res.Deleted < 3 { // empty, will-be-file (a dir), will-be-dir (a file)
		t.Errorf("deleted %d entries, want at least 3", res.Deleted)
	}
	// Again from B: nothing to write.
	res, err = restore.Run(ctx, r, b, target, deltaOpts(b))
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 0 || res.Files != 0 {
		t.Errorf("a delta restore of the snapshot the target holds wrote %d bytes into %d files", res.Written, res.Files)
	}
	if err := treetest.Compare(src, target); err != nil {
		t.Fatalf("target differs after a second delta restore:\n%v", err)
	}
}

// The target is checked, not trusted: a file changed in the target since A
// was restored (a patch cut short by a kill leaves one like it) is written
// whole, and one removed is written again.
func TestDeltaRestoreChecksTheTarget(t *testing.T) {
	ctx := context.Background()
	r, src, a, target := restoredCopy(t)
	changeTree(t, src)
	b := backup(t, r, src)
	writePages(t, filepath.Join(target, "db.bin"), 999, 3)                     // not in A nor B
	writePages(t, filepath.Join(target, "unchanged.bin"), 555, 1)              // same in A and B
	if err := os.Remove(filepath.Join(target, "big/random.bin")); err != nil { // gone
		t.Fatal(err)
	}
	res, err := restore.Run(ctx, r, b, target, deltaOpts(a))
	if err != nil {
		t.Fatal(err)
	}
	if err := treetest.Compare(src, target); err != nil {
		t.Fatalf("target differs from snapshot B:\n%v", err)
	}
	if res.Patched != 1 { // big/grow.bin only
		t.Errorf("%d files patched, want 1", res.Patched)
	}
}

// A file with several names in A is never patched through one of them, and
// every name of a group in B ends up on one inode with B's content, also
// when the first name was rewritten.
func TestDeltaRestoreHardLinks(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	mkfile(t, filepath.Join(src, "a"), string(treetest.RandomBytes(1, 1<<20)))
	if err := os.Link(filepath.Join(src, "a"), filepath.Join(src, "b")); err != nil {
		t.Fatal(err)
	}
	a := backup(t, r, src)
	for _, mode := range []restore.Options{deltaOpts(a), {Overwrite: restore.OverwriteIfChanged, Delete: true}} {
		target := t.TempDir()
		if _, err := restore.Run(ctx, r, a, target, restore.Options{}); err != nil {
			t.Fatal(err)
		}
		writePages(t, filepath.Join(src, "a"), 50, 4)
		b := backup(t, r, src)
		if _, err := restore.Run(ctx, r, b, target, mode); err != nil {
			t.Fatal(err)
		}
		if err := treetest.Compare(src, target); err != nil {
			t.Fatalf("base %v: target differs:\n%v", mode.Base != nil, err)
		}
		var sa, sb unix.Stat_t
		if unix.Lstat(filepath.Join(target, "a"), &sa) != nil || unix.Lstat(filepath.Join(target, "b"), &sb) != nil || sa.Ino != sb.Ino {
			t.Fatalf("base %v: a and b are not one inode", mode.Base != nil)
		}
	}
}

func TestDeltaRestoreOptions(t *testing.T) {
	base := &repository.Snapshot{}
	for _, o := range []restore.Options{
		{Base: base},
		{Base: base, Overwrite: restore.OverwriteIfChanged},
		{Base: base, Overwrite: restore.OverwriteAlways, Delete: true},
		{Base: base, Overwrite: restore.OverwriteNever, Delete: true},
	} {
		if err := o.Validate(); !errors.Is(err, restore.ErrOptions) {
			t.Errorf("%+v: err %v, want ErrOptions", o, err)
		}
	}
	if err := deltaOpts(base).Validate(); err != nil {
		t.Errorf("delta options refused: %v", err)
	}
}

// --verify catches what differs from the snapshot after the writes: in a
// restore into an empty target, and in the chunks a delta restore wrote.
func TestVerifyCatchesDamage(t *testing.T) {
	treetest.RequireRoot(t)
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	buildDeltaTree(t, src)
	a := backup(t, r, src)
	damage := func(root *os.Root) {
		f, err := root.OpenFile("db.bin", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// Page 13 is among those changeTree rewrites (see writePages).
		if _, err := f.WriteAt(treetest.RandomBytes(77, 100), 13*8192+50); err != nil {
			t.Fatal(err)
		}
	}
	target := t.TempDir()
	if _, err := restore.Run(ctx, r, a, target, restore.WithBeforeVerify(restore.Options{Verify: true}, damage)); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("a damaged full restore verified: %v", err)
	}
	if _, err := restore.Run(ctx, r, a, target, restore.Options{Verify: true}); err != nil {
		t.Fatal(err)
	}
	changeTree(t, src)
	b := backup(t, r, src)
	if _, err := restore.Run(ctx, r, b, target, restore.WithBeforeVerify(deltaOpts(a), damage)); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("a damaged delta restore verified: %v", err)
	}
}

// In the if-changed mode, only a regular file is kept for having the
// snapshot entry's size and modification time: a regular file where the
// snapshot has a symlink is replaced, however alike their sizes and times.
func TestIfChangedKeepsOnlyFiles(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	if err := os.Symlink("somewhere/else", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	sn := backup(t, r, src)
	tree, err := r.LoadTree(ctx, sn.Tree)
	if err != nil || len(tree.Nodes) != 1 || tree.Nodes[0].Type != repository.TypeSymlink {
		t.Fatalf("tree %+v %v", tree, err)
	}
	n := tree.Nodes[0]
	target := t.TempDir()
	p := filepath.Join(target, "link")
	if err := os.WriteFile(p, make([]byte, n.Size), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Unix(0, n.ModTime)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(ctx, r, sn, target, restore.Options{Overwrite: restore.OverwriteIfChanged, Delete: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(p); err != nil || got != "somewhere/else" {
		t.Fatalf("link is %q, %v: the regular file in its place was kept", got, err)
	}
}

// A file the snapshot has under a new name, with the content a file of the
// base had under a name it no longer has (PostgreSQL recycles a WAL segment
// by renaming it; logrotate renames app.log to app.log.1), is moved to its
// new name in the target, not written again; in the root and below it.
// One the target no longer holds as the base had it is written.
func TestDeltaRestoreReusesRenamedFiles(t *testing.T) {
	treetest.RequireRoot(t)
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	mkfile(t, filepath.Join(src, "pg_wal/000000010000000000000001"), string(treetest.RandomBytes(11, 2<<20)))
	mkfile(t, filepath.Join(src, "pg_wal/000000010000000000000002"), string(treetest.RandomBytes(12, 2<<20)))
	mkfile(t, filepath.Join(src, "app.log"), strings.Repeat("a line of the log\n", 50000))
	mkfile(t, filepath.Join(src, "touched"), string(treetest.RandomBytes(13, 1<<20)))
	a := backup(t, r, src)
	target := t.TempDir()
	if _, err := restore.Run(ctx, r, a, target, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	rename := func(dir, from, to string) {
		t.Helper()
		if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	rename(src, "pg_wal/000000010000000000000001", "pg_wal/000000010000000000000003")
	rename(src, "app.log", "app.log.1")
	mkfile(t, filepath.Join(src, "app.log"), "a new log\n")
	rename(src, "touched", "touched.1")
	writePages(t, filepath.Join(target, "touched"), 77, 1) // the target's no longer the base's
	b := backup(t, r, src)

	res, err := restore.Run(ctx, r, b, target, deltaOpts(a))
	if err != nil {
		t.Fatal(err)
	}
	if err := treetest.Compare(src, target); err != nil {
		t.Fatalf("target differs from snapshot B:\n%v", err)
	}
	t.Logf("result %+v", res)
	if res.Renamed != 2 {
		t.Errorf("%d files moved to their new names, want the segment and the log", res.Renamed)
	}
	// Written: the new log, and touched.1 whole (its old file was changed).
	if want := int64(len("a new log\n") + 1<<20); res.Written != want {
		t.Errorf("%d bytes written, want %d", res.Written, want)
	}
}
