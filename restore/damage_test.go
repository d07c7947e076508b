package restore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// packsOf returns, for a snapshot of a-first and z/last (in that order at
// its top), the pack holding a-first, z's tree id, and a pack holding part
// of z/last but not a-first (null if there is none).
func packsOf(t *testing.T, r *repository.Repository, sn *repository.Snapshot) (first, zTree, victim pack.ID) {
	t.Helper()
	ctx := context.Background()
	tree, err := r.LoadTree(ctx, sn.Tree)
	if err != nil {
		t.Fatal(err)
	}
	if n := tree.Nodes[len(tree.Nodes)-1]; n.Name != "z" {
		t.Fatalf("last entry %q, want z", n.Name)
	}
	z := tree.Nodes[len(tree.Nodes)-1]
	sub, err := r.LoadTree(ctx, *z.Subtree)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := r.Index().Lookup(pack.DataBlob, tree.Nodes[0].Content[0])
	for _, id := range sub.Nodes[0].Content {
		if l, ok := r.Index().Lookup(pack.DataBlob, id); ok && l.Pack != loc.Pack {
			victim = l.Pack
		}
	}
	return loc.Pack, *z.Subtree, victim
}

// damagedSource backs up a-first (small), z/last (20 MiB, over several
// 1 MiB packs), and z/link, a hard link to z/last.
func damagedSource(t *testing.T) (*repository.Repository, *repository.Snapshot, string) {
	t.Helper()
	r := newRepoWith(t, repository.Options{PackSize: 1 << 20})
	src := t.TempDir()
	mkfile(t, filepath.Join(src, "a-first"), "small and complete")
	mkfile(t, filepath.Join(src, "z/last"), string(treetest.RandomBytes(7, 20<<20)))
	if err := os.Link(filepath.Join(src, "z/last"), filepath.Join(src, "z/link")); err != nil {
		t.Fatal(err)
	}
	return r, backup(t, r, src), src
}

// reopen opens r's store again: a repository with nothing cached.
func reopen(t *testing.T, r *repository.Repository) *repository.Repository {
	t.Helper()
	return repotest.Locked(t, r.Target(), repository.Options{})
}

// flipByte changes one byte in the middle of a stored object.
func flipByte(t *testing.T, store targets.Target, name string) {
	t.Helper()
	ctx := context.Background()
	data, err := targets.ReadAll(ctx, store, name)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := store.Put(ctx, name, data); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte in a pack, or a missing pack, costs only the files whose
// data it holds: the rest is restored, the damaged file is never written
// with wrong bytes, and the result names it with its lost ranges. Its
// hard link goes with it.
func TestRestoreSalvagesAroundDamage(t *testing.T) {
	for _, how := range []string{"flipped byte", "missing pack"} {
		t.Run(how, func(t *testing.T) {
			r, sn, _ := damagedSource(t)
			ctx := context.Background()
			_, _, victim := packsOf(t, r, sn)
			if victim.IsNull() {
				t.Fatal("no pack of z/last apart from a-first's")
			}
			if how == "missing pack" {
				if err := r.Target().Delete(ctx, repository.PackName(victim)); err != nil {
					t.Fatal(err)
				}
			} else {
				flipByte(t, r.Target(), repository.PackName(victim))
			}
			target := t.TempDir()
			res, err := restore.Run(ctx, r, sn, target, restore.Options{Verify: true})
			if !errors.Is(err, restore.ErrIncomplete) {
				t.Fatalf("restore: %v, want ErrIncomplete", err)
			}
			if got, err := os.ReadFile(filepath.Join(target, "a-first")); err != nil || string(got) != "small and complete" {
				t.Fatalf("a-first = %q, %v", got, err)
			}
			if names := names(t, filepath.Join(target, "z")); len(names) != 0 {
				t.Fatalf("z holds %v, want nothing: z/last is damaged and z/link is its hard link", names)
			}
			var paths []string
			for _, d := range res.Damaged {
				paths = append(paths, d.Path)
			}
			if !slices.Equal(paths, []string{"/z/last", "/z/link"}) || res.DamagedCount != 2 {
				t.Fatalf("damaged %v (count %d), want /z/last and /z/link", paths, res.DamagedCount)
			}
			d := res.Damaged[0]
			if len(d.Ranges) == 0 || d.Ranges[0].Start < 0 || d.Ranges[len(d.Ranges)-1].End > 20<<20 || d.Why == "" {
				t.Fatalf("damage of /z/last: %+v", d)
			}
			if res.Files != 1 || res.Verified != 1 {
				t.Fatalf("files %d verified %d, want a-first only", res.Files, res.Verified)
			}
		})
	}
}

// With KeepDamaged the damaged file is written as NAME.lifeboat-damaged:
// every byte outside its lost ranges equals the source, and the lost
// ranges are zeros.
func TestRestoreKeepDamaged(t *testing.T) {
	r, sn, src := damagedSource(t)
	ctx := context.Background()
	_, _, victim := packsOf(t, r, sn)
	flipByte(t, r.Target(), repository.PackName(victim))
	target := t.TempDir()
	res, err := restore.Run(ctx, r, sn, target, restore.Options{KeepDamaged: true})
	if !errors.Is(err, restore.ErrIncomplete) {
		t.Fatalf("restore: %v, want ErrIncomplete", err)
	}
	if _, err := os.Lstat(filepath.Join(target, "z/last")); !os.IsNotExist(err) {
		t.Fatalf("z/last exists under its own name: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(target, "z/last"+restore.DamagedSuffix))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(src, "z/last"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("kept %d bytes, want %d", len(got), len(want))
	}
	d := res.Damaged[0]
	if d.KeptAs != "/z/last"+restore.DamagedSuffix {
		t.Fatalf("kept as %q", d.KeptAs)
	}
	var lost int64
	at := int64(0)
	for _, rg := range d.Ranges {
		if !bytes.Equal(got[at:rg.Start], want[at:rg.Start]) {
			t.Fatalf("bytes %d-%d differ from the source", at, rg.Start)
		}
		if !bytes.Equal(got[rg.Start:rg.End], make([]byte, rg.End-rg.Start)) {
			t.Fatalf("lost range %d-%d is not zeros", rg.Start, rg.End)
		}
		lost += rg.End - rg.Start
		at = rg.End
	}
	if !bytes.Equal(got[at:], want[at:]) {
		t.Fatalf("bytes from %d differ from the source", at)
	}
	if lost == 0 || lost >= int64(len(want)) {
		t.Fatalf("%d of %d bytes lost: want some, not all", lost, len(want))
	}
}

// A directory whose listing is lost is left out with what is below it;
// the rest is restored.
func TestRestoreSalvagesAroundLostTree(t *testing.T) {
	r, sn, _ := damagedSource(t)
	ctx := context.Background()
	_, zTree, _ := packsOf(t, r, sn)
	loc, ok := r.Index().Lookup(pack.TreeBlob, zTree)
	if !ok {
		t.Fatal("z's tree is not indexed")
	}
	data, err := targets.ReadAll(ctx, r.Target(), repository.PackName(loc.Pack))
	if err != nil {
		t.Fatal(err)
	}
	data[loc.Entry.Offset+loc.Entry.Length/2] ^= 1
	if err := r.Target().Put(ctx, repository.PackName(loc.Pack), data); err != nil {
		t.Fatal(err)
	}
	r = reopen(t, r) // nothing of z's tree cached
	target := t.TempDir()
	res, err := restore.Run(ctx, r, sn, target, restore.Options{})
	if !errors.Is(err, restore.ErrIncomplete) {
		t.Fatalf("restore: %v, want ErrIncomplete", err)
	}
	if got := names(t, target); !slices.Equal(got, []string{"a-first"}) {
		t.Fatalf("target holds %v, want a-first only", got)
	}
	if len(res.Damaged) != 1 || res.Damaged[0].Path != "/z" || !res.Damaged[0].Dir {
		t.Fatalf("damaged %+v, want the directory /z", res.Damaged)
	}
}

// An --include that matches nothing is an error that writes nothing (it
// used to exit 0 silently); one that matches restores what it matches.
func TestIncludeMatchingNothing(t *testing.T) {
	r, sn := backupOne(t, "etc/app.conf")
	ctx := context.Background()
	target := t.TempDir()
	_, err := restore.Run(ctx, r, sn, target, restore.Options{Selector: restore.Selector{Include: []string{"/nope/*"}}})
	if !errors.Is(err, restore.ErrNothingSelected) {
		t.Fatalf("include matching nothing: %v", err)
	}
	assertEmpty(t, target)
	res, err := restore.Run(ctx, r, sn, target, restore.Options{Selector: restore.Selector{Include: []string{"/etc/*.conf"}}})
	if err != nil || res.Files != 1 {
		t.Fatalf("include matching a file: %v %+v", err, res)
	}
}
