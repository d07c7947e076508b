package checker_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/faulty"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

func setup(t *testing.T) (*mem.Target, *repository.Repository, *repository.Snapshot) {
	t.Helper()
	ctx := context.Background()
	tg := mem.New()
	kdf := func() (crypto.KDFParams, error) { return crypto.NewKDF(1, 64, 1) }
	r, err := repository.Init(ctx, tg, []byte("pw"), repository.Options{KDF: kdf})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := r.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Unlock(ctx) })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("some content"), 0o644); err != nil {
		t.Fatal(err)
	}
	sn, err := snapshot.New(r, snapshot.Options{}).Run(ctx, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	return tg, r, sn
}

func reopen(t *testing.T, tg targets.Target) *repository.Repository {
	t.Helper()
	r, err := repository.Open(context.Background(), tg, []byte("pw"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(t *testing.T, tg targets.Target, prefix string) []string {
	t.Helper()
	var out []string
	_ = tg.List(context.Background(), prefix, func(fi targets.Info) error { out = append(out, fi.Name); return nil })
	return out
}

func TestHealthyAndUnreferenced(t *testing.T) {
	tg, r, _ := setup(t)
	// A pack that no index names, as an interrupted backup leaves one.
	var out bytes.Buffer
	w := pack.NewWriter(&out)
	if _, err := w.Add(r.Key(), pack.DataBlob, r.BlobID([]byte("orphan")), []byte("orphan"), 0); err != nil {
		t.Fatal(err)
	}
	id, _, _, err := w.Finish(r.Key())
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Put(context.Background(), repository.PackName(id), out.Bytes()); err != nil {
		t.Fatal(err)
	}
	rep, err := checker.Check(context.Background(), reopen(t, tg), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	// Its header is read, and with --read-data the pack too.
	if !rep.OK() || len(rep.UnreferencedPacks) != 1 || rep.Snapshots != 1 || rep.PacksRead != 3 {
		t.Fatalf("report: %+v", rep)
	}
}

func TestDamagedIndexAndSnapshot(t *testing.T) {
	tg, _, sn := setup(t)
	idx := names(t, tg, "index/")[0]
	if err := tg.Corrupt(idx, 30); err != nil {
		t.Fatal(err)
	}
	snap := "snapshots/" + sn.ID.String()
	if err := tg.Corrupt(snap, 5); err != nil {
		t.Fatal(err)
	}
	rep, err := checker.Check(context.Background(), reopen(t, tg), checker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, p := range rep.Problems {
		text = append(text, p.String())
	}
	all := strings.Join(text, "\n")
	if !strings.Contains(all, idx) || !strings.Contains(all, snap) {
		t.Fatalf("problems do not name the damaged objects:\n%s", all)
	}
}

func TestSubset(t *testing.T) {
	tg, _, _ := setup(t)
	rep, err := checker.Check(context.Background(), reopen(t, tg), checker.Options{ReadData: true, Subset: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksRead != 1 || rep.Packs != 2 {
		t.Fatalf("half of 2 packs: read %d of %d", rep.PacksRead, rep.Packs)
	}
}

func TestTruncatedPack(t *testing.T) {
	tg, _, _ := setup(t)
	ctx := context.Background()
	var data []string
	_ = tg.List(ctx, "data/", func(fi targets.Info) error { data = append(data, fi.Name); return nil })
	for _, name := range data {
		b, err := targets.ReadAll(ctx, tg, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Put(ctx, name, b[:len(b)/2]); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := checker.Check(ctx, reopen(t, tg), checker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(rep.Problems[0].Message, "truncated") {
		t.Fatalf("truncated packs not reported: %+v", rep.Problems)
	}
}

// A read that fails even after retries is "could not read", not damage: an
// operator who believed it would forget a healthy snapshot.
func TestFailedReadIsNotDamage(t *testing.T) {
	tg, r, sn := setup(t)
	// The pack of the file's content (not of the tree, which every check
	// reads anyway).
	tree, err := r.LoadTree(context.Background(), sn.Tree)
	if err != nil {
		t.Fatal(err)
	}
	loc, ok := r.Index().Lookup(pack.DataBlob, tree.Nodes[0].Content[0])
	if !ok {
		t.Fatal("the file's chunk is not indexed")
	}
	packs := []string{repository.PackName(loc.Pack)}
	failing := faulty.New(tg, faulty.Config{Hook: func(_ context.Context, op, name string) error {
		if op == "get" && name == packs[0] {
			return fmt.Errorf("gave up after 5 attempts: %w", targets.ErrTransient)
		}
		return nil
	}})
	rep, err := checker.Check(context.Background(), reopen(t, failing), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() || rep.OK() || len(rep.Unreadable) != 1 || rep.Unreadable[0].Object != packs[0] {
		t.Fatalf("want one unreadable pack and no damage: %+v", rep)
	}
}

// A backup that finishes while check runs is no false alarm: check lists
// the snapshots before it loads the index.
func TestBackupDuringCheck(t *testing.T) {
	tg, _, _ := setup(t)
	ctx := context.Background()
	var once sync.Once
	ran := false
	during := faulty.New(tg, faulty.Config{Hook: func(_ context.Context, op, name string) error {
		if op == "list" && name == "snapshots/" {
			once.Do(func() {
				// Another host backs up new data, all of it, in between.
				r := reopen(t, tg)
				lock, err := r.LockAndLoad(ctx, false)
				if err != nil {
					t.Error(err)
					return
				}
				defer lock.Unlock(ctx)
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "new"), []byte("written during the check"), 0o644); err != nil {
					t.Error(err)
					return
				}
				_, err = snapshot.New(r, snapshot.Options{}).Run(ctx, []string{dir})
				ran = err == nil
			})
		}
		return nil
	}})
	rep, err := checker.Check(ctx, reopen(t, during), checker.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !ran {
		t.Fatal("the backup during the check did not run")
	}
	if !rep.OK() {
		t.Fatalf("a backup during the check was reported: %+v", rep)
	}
}
