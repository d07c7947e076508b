package repair_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
	"github.com/lifeboat-backup/lifeboat/repository/repair"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

func open(t *testing.T, tg targets.Target, damaged *[]string) *repository.Repository {
	t.Helper()
	r, err := repository.Open(context.Background(), tg, []byte("pw"), repository.Options{
		OnDamaged: func(name string, _ error) {
			if damaged != nil {
				*damaged = append(*damaged, name)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// locked opens the store, locks it and loads the index; unlock releases
// the lock (a prune cannot run before).
func locked(t *testing.T, tg targets.Target, damaged *[]string) (r *repository.Repository, unlock func()) {
	t.Helper()
	r = open(t, tg, damaged)
	lock, err := r.LockAndLoad(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return r, func() { _ = lock.Unlock(context.Background()) }
}

// twoSnapshots makes a repository with two snapshots of different files,
// each file in packs of its own (1 MiB packs, 1.5 MiB files).
func twoSnapshots(t *testing.T) (*mem.Target, []*repository.Snapshot, map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	store := repotest.Init(t, mem.New(), repository.Options{PackSize: 1 << 20})
	files := map[string][]byte{}
	var snaps []*repository.Snapshot
	for i, name := range []string{"a", "b"} {
		dir := t.TempDir()
		files[name] = treetest.RandomBytes(uint64(i+1), 1500_000)
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "small-"+name), []byte("small "+name), 0o644); err != nil {
			t.Fatal(err)
		}
		r := open(t, store, nil)
		lock, err := r.LockAndLoad(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		sn, err := snapshot.New(r, snapshot.Options{}).Run(ctx, []string{dir})
		if err != nil {
			t.Fatal(err)
		}
		_ = lock.Unlock(ctx)
		snaps = append(snaps, sn)
	}
	return store, snaps, files
}

func objects(t *testing.T, tg targets.Target, prefix string) []string {
	t.Helper()
	var out []string
	if err := tg.List(context.Background(), prefix, func(fi targets.Info) error { out = append(out, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func check(t *testing.T, tg targets.Target) *checker.Report {
	t.Helper()
	rep, err := checker.Check(context.Background(), open(t, tg, nil), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func restoreAll(t *testing.T, tg targets.Target, sn *repository.Snapshot) (string, error) {
	t.Helper()
	dst := t.TempDir()
	r, unlock := locked(t, tg, nil)
	defer unlock()
	_, err := restore.Run(context.Background(), r, sn, dst, restore.Options{Verify: true})
	return dst, err
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s differs: %v", path, err)
	}
}

// One damaged index file: the other snapshot still restores; check points
// at repair index; prune indexes the packs again instead of deleting them;
// repair index makes the repository whole.
func TestDamagedIndexFile(t *testing.T) {
	for _, fix := range []string{"repair index", "prune"} {
		t.Run(fix, func(t *testing.T) {
			ctx := context.Background()
			store, snaps, files := twoSnapshots(t)
			idx := objects(t, store, "index/")
			if len(idx) != 2 {
				t.Fatalf("%d index files, want one per backup", len(idx))
			}
			// Damage the index file of the first backup: find it by which
			// snapshot stops restoring.
			if err := store.Corrupt(idx[0], 20); err != nil {
				t.Fatal(err)
			}
			var damaged []string
			r, unlock := locked(t, store, &damaged)
			if len(damaged) != 1 || damaged[0] != idx[0] {
				t.Fatalf("reported damaged %v, want %s", damaged, idx[0])
			}
			restorable := 0
			for _, sn := range snaps {
				if _, err := restore.Run(ctx, r, sn, t.TempDir(), restore.Options{Verify: true}); err == nil {
					restorable++
				}
			}
			unlock()
			if restorable != 1 {
				t.Fatalf("%d of 2 snapshots restore with one of two index files damaged, want 1", restorable)
			}
			rep := check(t, store)
			if !rep.Damaged() || !strings.Contains(rep.Problems[len(rep.Problems)-1].Message, "repair index") {
				t.Fatalf("check should point at repair index: %+v", rep.Problems)
			}
			packs := objects(t, store, "data/")
			if fix == "prune" {
				prep, err := prune.Run(ctx, open(t, store, nil), prune.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if prep.Reindexed == 0 || prep.Unreferenced != 0 || prep.DamagedIndexFiles != 1 {
					t.Fatalf("prune: %+v", prep)
				}
			} else {
				irep, err := repair.Index(ctx, open(t, store, nil), repair.IndexOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if irep.Reindexed == 0 || irep.DamagedIndexFiles != 1 || irep.IndexFilesWritten != 1 {
					t.Fatalf("repair index: %+v", irep)
				}
			}
			if got := objects(t, store, "data/"); !slices.Equal(got, packs) {
				t.Fatalf("packs changed: %d before, %d after", len(packs), len(got))
			}
			if rep := check(t, store); !rep.OK() {
				t.Fatalf("check after %s: %+v", fix, rep)
			}
			for i, sn := range snaps {
				dst, err := restoreAll(t, store, sn)
				if err != nil {
					t.Fatal(err)
				}
				name := []string{"a", "b"}[i]
				sameFile(t, filepath.Join(dst, name), files[name])
			}
		})
	}
}

// One damaged snapshot file: the others list and restore, it can be
// forgotten by id, and prune refuses to run until it is.
func TestDamagedSnapshotFile(t *testing.T) {
	ctx := context.Background()
	store, snaps, _ := twoSnapshots(t)
	name := "snapshots/" + snaps[0].ID.String()
	if err := store.Corrupt(name, 10); err != nil {
		t.Fatal(err)
	}
	var damaged []string
	r, unlock := locked(t, store, &damaged)
	all, err := r.Snapshots(ctx)
	if err != nil || len(all) != 1 || all[0].ID != snaps[1].ID {
		t.Fatalf("snapshots with one damaged: %v %v", all, err)
	}
	if len(damaged) != 1 || damaged[0] != name {
		t.Fatalf("reported damaged %v", damaged)
	}
	unlock()
	if _, err := prune.Run(ctx, open(t, store, nil), prune.Options{}); !errors.Is(err, repository.ErrDamaged) {
		t.Fatalf("prune beside a damaged snapshot: %v", err)
	}
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := repository.ResolveSnapshotID(ids, snaps[0].ID.String()[:8])
	if err != nil || id != snaps[0].ID {
		t.Fatalf("resolve the damaged snapshot's id: %v %v", id, err)
	}
	if err := r.DeleteSnapshot(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := prune.Run(ctx, open(t, store, nil), prune.Options{}); err != nil {
		t.Fatal(err)
	}
	if rep := check(t, store); !rep.OK() || rep.Snapshots != 1 {
		t.Fatalf("check: %+v", rep)
	}
}

// A lost pack: repair snapshots saves each affected snapshot without the
// files it held, keeps the rest byte for byte, and after --forget the
// repository checks clean and prunes.
func TestRepairSnapshotsAfterLostPack(t *testing.T) {
	ctx := context.Background()
	store, snaps, files := twoSnapshots(t)
	// The pack that holds file a's first chunk: remove it. Packs are
	// filled concurrently, so small-a may be in it too; every file with a
	// chunk there is lost.
	r, unlock := locked(t, store, nil)
	tree, err := r.LoadTree(ctx, snaps[0].Tree)
	if err != nil {
		t.Fatal(err)
	}
	packOf := func(id pack.ID) pack.ID {
		loc, ok := r.Index().Lookup(pack.DataBlob, id)
		if !ok {
			t.Fatalf("chunk %s is not indexed", id.Short())
		}
		return loc.Pack
	}
	victim := packOf(tree.Find("a").Content[0])
	var wantLost []string
	for _, n := range tree.Nodes {
		if slices.ContainsFunc(n.Content, func(c pack.ID) bool { return packOf(c) == victim }) {
			wantLost = append(wantLost, "/"+n.Name)
		}
	}
	unlock()
	t.Logf("lost with the pack: %v", wantLost)
	if err := store.Delete(ctx, repository.PackName(victim)); err != nil {
		t.Fatal(err)
	}
	if rep := check(t, store); !rep.Damaged() || len(rep.Affected) != 1 {
		t.Fatalf("check after a lost pack: %+v", rep)
	}

	var lost []string
	r, unlock = locked(t, store, nil)
	rep, err := repair.Snapshots(ctx, r, repair.SnapshotsOptions{DryRun: true,
		OnLost: func(_ pack.ID, p, _ string) { lost = append(lost, p) }})
	unlock()
	if err != nil || len(rep.Repaired) != 1 || rep.Repaired[0].New != nil || len(objects(t, store, "snapshots/")) != 2 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	if !slices.Equal(lost, wantLost) || !slices.Contains(lost, "/a") {
		t.Fatalf("lost %v, want %v", lost, wantLost)
	}
	r, unlock = locked(t, store, nil)
	rep, err = repair.Snapshots(ctx, r, repair.SnapshotsOptions{Forget: true})
	unlock()
	if err != nil || len(rep.Repaired) != 1 || rep.Forgotten != 1 || rep.Repaired[0].Lost != len(wantLost) {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	prep, err := prune.Run(ctx, open(t, store, nil), prune.Options{})
	if err != nil || prep.MissingPacks != 1 {
		t.Fatalf("prune after repair: %+v %v", prep, err)
	}
	if c := check(t, store); !c.OK() || c.Snapshots != 2 {
		t.Fatalf("check after repair and prune: %+v", c)
	}
	all, err := open(t, store, nil).Snapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var repaired *repository.Snapshot
	for _, s := range all {
		if s.HasTags([]string{repair.RepairedTag}) {
			repaired = s
		}
	}
	if repaired == nil || !repaired.Incomplete || len(repaired.Failures) != len(wantLost) || *repaired.Parent != snaps[0].ID {
		t.Fatalf("repaired snapshot: %+v", repaired)
	}
	dst, err := restoreAll(t, store, repaired)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"a": files["a"], "small-a": []byte("small a")} {
		if slices.Contains(wantLost, "/"+name) {
			if _, err := os.Stat(filepath.Join(dst, name)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the lost file %s was restored: %v", name, err)
			}
		} else {
			sameFile(t, filepath.Join(dst, name), want)
		}
	}
	dst, err = restoreAll(t, store, snaps[1])
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(dst, "b"), files["b"])
}

// repair snapshots does not call data lost that an unindexed pack holds.
func TestRepairSnapshotsWantsIndexFirst(t *testing.T) {
	ctx := context.Background()
	store, _, _ := twoSnapshots(t)
	for _, name := range objects(t, store, "index/")[:1] {
		if err := store.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	r, unlock := locked(t, store, nil)
	defer unlock()
	if _, err := repair.Snapshots(ctx, r, repair.SnapshotsOptions{Forget: true}); !errors.Is(err, repair.ErrReindexFirst) {
		t.Fatalf("repair snapshots with an index file lost: %v, want ErrReindexFirst", err)
	}
	if n := len(objects(t, store, "snapshots/")); n != 2 {
		t.Fatalf("%d snapshots left", n)
	}
}
