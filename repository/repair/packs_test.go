package repair_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets/mem"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/repository/repair"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// bigSecondSnapshot makes a repository (1 MiB packs) with a snapshot of a
// small file "a" and one of a 20 MiB file "b": more than two chunks of at
// most 8 MiB, in packs of their own.
func bigSecondSnapshot(t *testing.T) (*mem.Target, []*repository.Snapshot) {
	t.Helper()
	ctx := context.Background()
	store := repotest.Init(t, mem.New(), repository.Options{PackSize: 1 << 20})
	var snaps []*repository.Snapshot
	for i, f := range []struct {
		name string
		size int
	}{{"a", 1000}, {"b", 20 << 20}} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, f.name), treetest.RandomBytes(uint64(i+1), f.size), 0o644); err != nil {
			t.Fatal(err)
		}
		r, unlock := locked(t, store, nil)
		sn, err := snapshot.New(r, snapshot.Options{}).Run(ctx, []string{dir})
		unlock()
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, sn)
	}
	return store, snaps
}

// dataPacks lists the packs holding the data blobs of the first file of
// sn (by name, sorted).
func dataPacks(t *testing.T, r *repository.Repository, sn *repository.Snapshot, name string) []pack.ID {
	t.Helper()
	tree, err := r.LoadTree(context.Background(), sn.Tree)
	if err != nil {
		t.Fatal(err)
	}
	var out []pack.ID
	for _, n := range tree.Nodes {
		if n.Name != name {
			continue
		}
		for _, id := range n.Content {
			if l, ok := r.Lookup(pack.DataBlob, id); ok && !slices.Contains(out, l.Pack) {
				out = append(out, l.Pack)
			}
		}
	}
	if len(out) < 2 {
		t.Fatalf("%s is in %d packs, want 2 or more", name, len(out))
	}
	return out
}

// repair.Packs takes a pack with a flipped byte and a missing one out of
// the index: the flipped one's intact blobs are stored again, its bytes
// kept as damaged/<id>; a dry run changes nothing; afterwards check finds
// only what repair snapshots mends, and after that nothing. Snapshot "a"
// keeps every file the damage did not touch.
func TestRepairPacks(t *testing.T) {
	store, snaps := bigSecondSnapshot(t)
	ctx := context.Background()
	r, unlock := locked(t, store, nil)
	packs := dataPacks(t, r, snaps[1], "b")
	unlock()
	flipped, missing := packs[0], packs[1]
	name := repository.PackName(flipped)
	data, err := targets.ReadAll(ctx, store, name)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/3] ^= 1
	if err := store.Put(ctx, name, data); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, repository.PackName(missing)); err != nil {
		t.Fatal(err)
	}
	if rep := check(t, store); len(rep.DamagedPacks) != 2 {
		t.Fatalf("check names damaged packs %v, want 2", rep.DamagedPacks)
	}

	before := objects(t, store, "")
	rep, err := repair.Packs(ctx, open(t, store, nil), repair.PacksOptions{DryRun: true})
	if err != nil || len(rep.Damaged) != 2 || !slices.Equal(objects(t, store, ""), before) {
		t.Fatalf("dry run: %v %+v; objects changed: %v", err, rep, !slices.Equal(objects(t, store, ""), before))
	}
	rep, err = repair.Packs(ctx, open(t, store, nil), repair.PacksOptions{})
	if err != nil || len(rep.Damaged) != 2 || rep.SetAside != 1 || len(rep.LostBlobs) == 0 {
		t.Fatalf("repair packs: %v %+v", err, rep)
	}
	for _, d := range rep.Damaged {
		switch {
		case d.Pack == missing && (!d.Missing || d.Salvaged != 0):
			t.Fatalf("the missing pack: %+v", d)
		case d.Pack == flipped && (d.Missing || d.Lost != 1):
			t.Fatalf("the flipped pack: %+v (one blob lost)", d)
		}
	}
	if aside := objects(t, store, repository.KindDamaged.Prefix()); !slices.Equal(aside, []string{repository.KindDamaged.Name(flipped)}) {
		t.Fatalf("set aside %v", aside)
	}
	if got, _ := targets.ReadAll(ctx, store, name); got != nil {
		t.Fatal("the damaged pack is still in data/")
	}
	// The damage is now lost data that repair snapshots mends.
	after := check(t, store)
	if len(after.DamagedPacks) != 0 || len(after.Affected) != 1 {
		t.Fatalf("after repair packs: damaged packs %v, affected %+v", after.DamagedPacks, after.Affected)
	}
	r, unlock = locked(t, store, nil)
	if _, err := repair.Snapshots(ctx, r, repair.SnapshotsOptions{Forget: true}); err != nil {
		t.Fatal(err)
	}
	unlock()
	if final := check(t, store); !final.OK() {
		t.Fatalf("after repair snapshots --forget: %+v", final)
	}
	if dir, err := restoreAll(t, store, snaps[0]); err != nil {
		t.Fatalf("snapshot a after the repair: %v (%s)", err, dir)
	}
}
