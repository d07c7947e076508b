package restore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/faulty"
	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

func newRepo(t *testing.T) *repository.Repository {
	t.Helper()
	return newRepoWith(t, repository.Options{})
}

func newRepoWith(t *testing.T, opts repository.Options) *repository.Repository {
	t.Helper()
	return newRepoOn(t, mem.New(), opts)
}

// newRepoOn makes a repository on store, locked and loaded.
func newRepoOn(t *testing.T, store targets.Target, opts repository.Options) *repository.Repository {
	t.Helper()
	return repotest.Locked(t, repotest.Init(t, store, opts), opts)
}

func backup(t *testing.T, r *repository.Repository, dir string) *repository.Snapshot {
	t.Helper()
	sn, err := snapshot.New(r, snapshot.Options{}).Run(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// backupOne backs up a directory holding one file, rel, in a new repository.
func backupOne(t *testing.T, rel string) (*repository.Repository, *repository.Snapshot) {
	t.Helper()
	r := newRepo(t)
	src := t.TempDir()
	mkfile(t, filepath.Join(src, rel), "payload")
	return r, backup(t, r, src)
}

func mkfile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("restore wrote outside its target: %v", entries)
	}
}

// A symlink planted in the target where the snapshot has a directory must
// not lead the restore outside the target.
func TestPlantedSymlinkDirectory(t *testing.T) {
	r, sn := backupOne(t, "sub/f")

	outside, target := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(target, "sub")); err != nil {
		t.Fatal(err)
	}
	_, err := restore.Run(context.Background(), r, sn, target, restore.Options{Overwrite: restore.OverwriteAlways})
	if err == nil {
		t.Fatal("restore through a planted symlink succeeded")
	}
	assertEmpty(t, outside)
}

// A symlink planted where the snapshot has a file is replaced, not followed.
func TestPlantedSymlinkFile(t *testing.T) {
	r, sn := backupOne(t, "f")

	outside, target := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim")
	mkfile(t, victim, "original")
	if err := os.Symlink(victim, filepath.Join(target, "f")); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.Run(context.Background(), r, sn, target, restore.Options{Overwrite: restore.OverwriteAlways}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "original" {
		t.Fatalf("file outside the target was written: %q", b)
	}
	fi, err := os.Lstat(filepath.Join(target, "f"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("f was not replaced by a regular file: %v %v", fi, err)
	}
}

// A tree blob with an escaping name (written by a hostile or buggy client)
// is rejected before anything is written.
func TestHostileTreeNames(t *testing.T) {
	for _, name := range []string{"..", "../evil", "a/b", ".", "", "x\x00y"} {
		r := newRepo(t)
		ctx := context.Background()
		raw, _ := json.Marshal(map[string]any{"nodes": []any{map[string]any{"name": []byte(name), "type": "file", "mode": 0o644}}})
		w := r.NewWriter(ctx)
		id := r.BlobID(raw)
		if _, err := w.SaveBlob(pack.TreeBlob, id, raw); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		sn := &repository.Snapshot{Tree: id, Root: repository.Node{Type: repository.TypeDir, Mode: 0o755}}
		parent := t.TempDir()
		target := filepath.Join(parent, "t")
		_, err := restore.Run(ctx, r, sn, target, restore.Options{})
		if !errors.Is(err, repository.ErrDamaged) {
			t.Fatalf("name %q: %v, want ErrDamaged", name, err)
		}
		entries, _ := os.ReadDir(parent)
		if len(entries) != 1 {
			t.Fatalf("name %q: wrote %v", name, entries)
		}
		assertEmpty(t, target)
	}
}

func TestSparseHolesStay(t *testing.T) {
	r := newRepo(t)
	src := t.TempDir()
	f, err := os.Create(filepath.Join(src, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("boot sector"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sn := backup(t, r, src)
	dst := t.TempDir()
	if _, err := restore.Run(context.Background(), r, sn, dst, restore.Options{Verify: true}); err != nil {
		t.Fatal(err)
	}
	var a, b = stat(t, filepath.Join(src, "disk.img")), stat(t, filepath.Join(dst, "disk.img"))
	if b.size != a.size || b.blocks > a.blocks+16 {
		t.Fatalf("sparse file: size %d blocks %d, source size %d blocks %d", b.size, b.blocks, a.size, a.blocks)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// A restore into an empty target that fails part way (the store fails,
// which is not damage) leaves it empty: the files finished before the
// failure were never published.
func TestFailedRestoreLeavesEmptyTarget(t *testing.T) {
	var failing atomic.Value // the name of the pack the store fails to serve
	failing.Store("")
	store := faulty.New(mem.New(), faulty.Config{Hook: func(_ context.Context, op, name string) error {
		if op == "get" && name == failing.Load().(string) {
			return fmt.Errorf("%s: %w", name, targets.ErrPermission)
		}
		return nil
	}})
	r := newRepoOn(t, store, repository.Options{PackSize: 1 << 20})
	ctx := context.Background()
	src := t.TempDir()
	mkfile(t, filepath.Join(src, "a-first"), "small and complete")
	// 20 MiB: more than a-first's pack can hold (1 MiB and one chunk of at
	// most 8 MiB), so some of it is elsewhere whatever the chunker cuts.
	mkfile(t, filepath.Join(src, "z/last"), string(treetest.RandomBytes(1, 20<<20)))
	sn := backup(t, r, src)
	first, _, victim := packsOf(t, r, sn)
	if victim.IsNull() || victim == first {
		t.Fatal("z/last shares its only pack with a-first")
	}
	failing.Store(repository.PackName(victim))
	// One worker takes the packs in order, so a-first is complete before
	// the failing pack is reached.
	target := t.TempDir()
	res, err := restore.Run(ctx, r, sn, target, restore.Options{Workers: 1})
	if !errors.Is(err, targets.ErrPermission) {
		t.Fatalf("restore with a failing store: %v, want the store's error", err)
	}
	if res == nil || res.Files != 1 {
		t.Fatalf("result %+v, want a-first finished before the failure", res)
	}
	assertEmpty(t, target)
}

// A staging directory left by a killed restore does not make the target
// count as non-empty; it is removed, and the restore completes.
func TestStaleStagingRemoved(t *testing.T) {
	r, sn := backupOne(t, "f")

	target := t.TempDir()
	mkfile(t, filepath.Join(target, ".lifeboat-staging-0123456789abcdef/half"), "half written")
	if _, err := restore.Run(context.Background(), r, sn, target, restore.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, target); len(got) != 1 || got[0] != "f" {
		t.Fatalf("target holds %v, want [f]", got)
	}

	// Anything else still makes the target non-empty, and nothing is
	// removed: other entries, or names that only look like staging.
	for _, extra := range []string{"mine", ".lifeboat-staging-mine/x", ".lifeboat-staging-0123456789ABCDEF/x"} {
		other := t.TempDir()
		mkfile(t, filepath.Join(other, ".lifeboat-staging-0123456789abcdef/half"), "half written")
		mkfile(t, filepath.Join(other, extra), "user data")
		_, err := restore.Run(context.Background(), r, sn, other, restore.Options{})
		if !errors.Is(err, restore.ErrTargetNotEmpty) {
			t.Fatalf("with %s: err = %v, want ErrTargetNotEmpty", extra, err)
		}
		if got := names(t, other); len(got) != 2 {
			t.Fatalf("refused target changed: %v", got)
		}
	}

	// An overwrite restore removes the leftover and keeps the rest.
	other := t.TempDir()
	mkfile(t, filepath.Join(other, ".lifeboat-staging-0123456789abcdef/half"), "half written")
	mkfile(t, filepath.Join(other, "mine"), "user data")
	if _, err := restore.Run(context.Background(), r, sn, other, restore.Options{Overwrite: restore.OverwriteNever}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, other); !slices.Equal(got, []string{"f", "mine"}) {
		t.Fatalf("target holds %v, want [f mine]", got)
	}
}

// A restore killed while it moved its entries out of the publishing
// directory leaves some in the target and some there. The next restore of
// the same snapshot moves the rest in and is done; a restore of another
// snapshot finishes the move, then refuses the now complete target.
func TestInterruptedPublicationFinished(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	src := t.TempDir()
	mkfile(t, filepath.Join(src, "a"), "first")
	mkfile(t, filepath.Join(src, "b"), "second")
	mkfile(t, filepath.Join(src, "c/d"), "deeper")
	sn := backup(t, r, src)
	mkfile(t, filepath.Join(src, "e"), "later")
	other := backup(t, r, src)

	// killed leaves target as a restore of sn killed after moving b.
	killed := func() string {
		full := t.TempDir()
		if _, err := restore.Run(ctx, r, sn, full, restore.Options{}); err != nil {
			t.Fatal(err)
		}
		target := t.TempDir()
		job := filepath.Join(target, restore.PublishingName(sn, restore.Selector{}))
		if err := os.Mkdir(job, 0o700); err != nil {
			t.Fatal(err)
		}
		for name, to := range map[string]string{"a": job, "c": job, "b": target} {
			if err := os.Rename(filepath.Join(full, name), filepath.Join(to, name)); err != nil {
				t.Fatal(err)
			}
		}
		return target
	}

	target := killed()
	res, err := restore.Run(ctx, r, sn, target, restore.Options{Verify: true})
	if err != nil || !res.Finished || res.Verified != 3 {
		t.Fatalf("restore after an interrupted publication: %+v %v", res, err)
	}
	if got := names(t, target); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("target holds %v", got)
	}
	for rel, want := range map[string]string{"a": "first", "b": "second", "c/d": "deeper"} {
		if b, err := os.ReadFile(filepath.Join(target, rel)); err != nil || string(b) != want {
			t.Fatalf("%s: %q %v", rel, b, err)
		}
	}

	target = killed()
	if _, err := restore.Run(ctx, r, other, target, restore.Options{}); !errors.Is(err, restore.ErrTargetNotEmpty) {
		t.Fatalf("another snapshot into a half-published target: %v, want ErrTargetNotEmpty", err)
	}
	if got := names(t, target); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("the interrupted publication was not finished: %v", got)
	}

	// Something written into the target meanwhile under a published name
	// stops the restore; nothing is replaced.
	target = killed()
	mkfile(t, filepath.Join(target, "a"), "written by someone else")
	if _, err := restore.Run(ctx, r, sn, target, restore.Options{}); err == nil {
		t.Fatal("finishing over an entry written meanwhile succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(target, "a")); string(b) != "written by someone else" {
		t.Fatalf("the entry written meanwhile was replaced: %q", b)
	}
}

// With Delete, an overwrite restore makes the target equal to the
// snapshot: stale files (a WAL segment the snapshot does not hold) and
// directories go, entries of another kind are replaced, and a symlink in
// the way is removed without following it out of the target.
func TestDeleteMakesTargetEqual(t *testing.T) {
	r := newRepo(t)
	ctx := context.Background()
	src := t.TempDir()
	mkfile(t, filepath.Join(src, "pg_wal/000001"), "segment one")
	mkfile(t, filepath.Join(src, "base/1/page"), "pages")
	mkfile(t, filepath.Join(src, "conf"), "config")
	mkfile(t, filepath.Join(src, "sub/inner"), "inner")
	sn := backup(t, r, src)

	outside := t.TempDir()
	mkfile(t, filepath.Join(outside, "precious"), "not the target's")
	target := t.TempDir()
	mkfile(t, filepath.Join(target, "pg_wal/000001"), "old segment one")
	mkfile(t, filepath.Join(target, "pg_wal/000002"), "stale segment")
	mkfile(t, filepath.Join(target, "stale-dir/deep/file"), "stale")
	mkfile(t, filepath.Join(target, "conf/not-a-file"), "a directory where the snapshot has a file")
	if err := os.Symlink(outside, filepath.Join(target, "sub")); err != nil { // a symlink where it has a directory
		t.Fatal(err)
	}
	mkfile(t, filepath.Join(target, "base/1/page"), "pages")

	for _, bad := range []restore.Options{
		{Delete: true},
		{Delete: true, Overwrite: restore.OverwriteNever},
		{Delete: true, Overwrite: restore.OverwriteAlways, Selector: restore.Selector{Include: []string{"/conf"}}},
	} {
		if _, err := restore.Run(ctx, r, sn, target, bad); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
	res, err := restore.Run(ctx, r, sn, target, restore.Options{Overwrite: restore.OverwriteIfChanged, Delete: true, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 4 { // pg_wal/000002, stale-dir, conf (a directory), sub (a symlink)
		t.Fatalf("deleted %d entries, want 4", res.Deleted)
	}
	if err := treetest.Compare(src, target); err != nil {
		t.Fatalf("target differs from the snapshot after a delete restore:\n%v", err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "precious")); err != nil || string(b) != "not the target's" {
		t.Fatalf("the symlink's target outside was touched: %q %v", b, err)
	}
}

// A restore carried out in batches of any size equals one carried out at
// once: every kind of entry and its metadata (directories' times are set
// once their content is complete, whichever batch wrote it), hard links
// whose names fall in different batches, an include selection, a staged
// restore's publication, and a delete restore into a target that holds
// extras (a directory's extras are removed before its batch writes, and
// never one the next batch restores).
func TestBatchesEqualOneRun(t *testing.T) {
	treetest.RequireRoot(t)
	ctx := context.Background()
	r := newRepo(t)
	src := t.TempDir()
	treetest.Build(t, src)
	for d := range 5 { // directories with more entries than a batch
		for f := range 7 {
			mkfile(t, filepath.Join(src, fmt.Sprintf("many/d%d/f%d", d, f)), fmt.Sprintf("content %d %d", d, f))
		}
	}
	sn := backup(t, r, src)
	for _, size := range []int{1, 2, 3, 5, 8, 13} {
		t.Run(fmt.Sprintf("batch=%d", size), func(t *testing.T) {
			target := t.TempDir()
			if _, err := restore.Run(ctx, r, sn, target, restore.WithBatch(restore.Options{Verify: true}, size)); err != nil {
				t.Fatal(err)
			}
			if err := treetest.Compare(src, target); err != nil {
				t.Fatalf("staged restore in batches of %d:\n%v", size, err)
			}
			some := t.TempDir()
			if _, err := restore.Run(ctx, r, sn, some, restore.WithBatch(restore.Options{Selector: restore.Selector{Include: []string{"/many/d3"}}}, size)); err != nil {
				t.Fatal(err)
			}
			if got := names(t, some); len(got) != 1 || got[0] != "many" {
				t.Fatalf("include in batches of %d: %v", size, got)
			}
			if err := treetest.Compare(filepath.Join(src, "many/d3"), filepath.Join(some, "many/d3")); err != nil {
				t.Fatal(err)
			}
			// Extras everywhere, then a delete restore over them.
			mkfile(t, filepath.Join(target, "stale-top"), "x")
			for d := range 5 {
				mkfile(t, filepath.Join(target, fmt.Sprintf("many/d%d/stale", d)), "x")
				mkfile(t, filepath.Join(target, fmt.Sprintf("many/d%d/f0", d)), "changed")
			}
			res, err := restore.Run(ctx, r, sn, target, restore.WithBatch(restore.Options{Overwrite: restore.OverwriteIfChanged, Delete: true, Verify: true}, size))
			if err != nil {
				t.Fatal(err)
			}
			if res.Deleted != 6 {
				t.Fatalf("deleted %d entries in batches of %d, want 6", res.Deleted, size)
			}
			if err := treetest.Compare(src, target); err != nil {
				t.Fatalf("delete restore in batches of %d:\n%v", size, err)
			}
		})
	}
}
