package prune_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/local"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

// crashAt fails every write after the first n (a process dying mid-prune).
type crashAt struct {
	targets.Target
	n      int64
	writes atomic.Int64
}

var errCrash = errors.New("crashed")

func (c *crashAt) step() error {
	if c.writes.Add(1) > c.n {
		return errCrash
	}
	return nil
}

func (c *crashAt) Put(ctx context.Context, name string, data []byte) error {
	if err := c.step(); err != nil {
		return err
	}
	return c.Target.Put(ctx, name, data)
}

func (c *crashAt) PutFile(ctx context.Context, name, path string) error {
	if err := c.step(); err != nil {
		return err
	}
	return targets.PutFile(ctx, c.Target, name, path)
}

func (c *crashAt) Delete(ctx context.Context, name string) error {
	if err := c.step(); err != nil {
		return err
	}
	return c.Target.Delete(ctx, name)
}

func kdf() (crypto.KDFParams, error) { return crypto.NewKDF(1, 64, 1) }

func open(t *testing.T, tg targets.Target) *repository.Repository {
	t.Helper()
	r, err := repository.Open(context.Background(), tg, []byte("pw"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// setup makes four snapshots of a changing tree and forgets the first
// three, so that a prune deletes and repacks.
func setup(t *testing.T) (*mem.Target, string) {
	ctx := context.Background()
	store := mem.New()
	r, err := repository.Init(ctx, store, []byte("pw"), repository.Options{KDF: kdf, PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "keep"), treetest.RandomBytes(1, 1500_000), 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []*repository.Snapshot
	for i := 0; i < 4; i++ {
		if err := os.WriteFile(filepath.Join(src, "churn"), treetest.RandomBytes(uint64(i+5), 2<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		r := open(t, store)
		lock, err := r.LockAndLoad(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		sn, err := snapshot.New(r, snapshot.Options{}).Run(ctx, []string{src})
		if err != nil {
			t.Fatal(err)
		}
		if err := lock.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sn)
	}
	r = open(t, store)
	for _, sn := range ids[:3] {
		if err := r.DeleteSnapshot(ctx, sn.ID); err != nil {
			t.Fatal(err)
		}
	}
	return store, src
}

func verify(t *testing.T, store targets.Target, src string) {
	t.Helper()
	ctx := context.Background()
	rep, err := checker.Check(ctx, open(t, store), checker.Options{ReadData: true})
	if err != nil || !rep.OK() || rep.Snapshots != 1 {
		t.Fatalf("check: %v %+v", err, rep)
	}
	r := open(t, store)
	lock, err := r.LockAndLoad(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock(ctx)
	snaps, _ := r.Snapshots(ctx)
	dst := t.TempDir()
	if _, err := restore.Run(ctx, r, snaps[0], dst, restore.Options{Verify: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"keep", "churn"} {
		a, _ := os.ReadFile(filepath.Join(src, f))
		b, _ := os.ReadFile(filepath.Join(dst, f))
		if string(a) != string(b) {
			t.Fatalf("%s differs after prune", f)
		}
	}
}

// openAt opens a handle whose clock reads at.
func openAt(t *testing.T, tg targets.Target, at time.Time) *repository.Repository {
	t.Helper()
	r, err := repository.Open(context.Background(), tg, []byte("pw"), repository.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// countObjects counts the objects under prefix.
func countObjects(t *testing.T, tg targets.Target, prefix string) int {
	t.Helper()
	n := 0
	if err := tg.List(context.Background(), prefix, func(targets.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// settle runs the prunes that finish what earlier ones marked: one now
// (it completes a mark a crash left incomplete), one after the grace
// period. It returns the packs the two deleted; no mark is left.
// actionsOf returns the packs and sizes of a dry run's actions, which
// must all be do, and checks their sizes against the report.
func actionsOf(t *testing.T, rep *prune.Report, do string) map[pack.ID]int64 {
	t.Helper()
	packs := map[pack.ID]int64{}
	var size int64
	for _, a := range rep.Actions {
		if a.Do != do || a.Size <= 0 || a.Why == "" {
			t.Fatalf("planned %+v, want only %q of stored packs, with a reason", a, do)
		}
		packs[a.Pack] = a.Size
		size += a.Size
	}
	if len(packs) == 0 || len(packs) != len(rep.Actions) {
		t.Fatalf("the plan names %d packs in %d actions: %+v", len(packs), len(rep.Actions), rep.Actions)
	}
	if want := map[string]int64{"mark": rep.BytesMarked, "delete": rep.BytesFreed}[do]; size != want {
		t.Fatalf("the plan's %q actions add up to %d bytes, the report says %d", do, size, want)
	}
	return packs
}

func settle(t *testing.T, store targets.Target) int {
	t.Helper()
	ctx := context.Background()
	a, err := prune.Run(ctx, open(t, store), prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := prune.Run(ctx, openAt(t, store, time.Now().Add(2*prune.DefaultGrace)), prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b.MarksWaiting != 0 || b.PacksMarked != 0 || countObjects(t, store, "marks/") != 0 {
		t.Fatalf("marks left after the grace period: %+v", b)
	}
	return a.PacksDeleted + b.PacksDeleted
}

// A prune marks what no snapshot needs and deletes nothing; the packs go
// in a prune after the grace period. Between the two, check passes and
// the snapshot restores.
func TestMarkThenSweep(t *testing.T) {
	ctx := context.Background()
	store, src := setup(t)
	before := countObjects(t, store, "data/")
	plan, err := prune.Run(ctx, open(t, store), prune.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	planned := actionsOf(t, plan, "mark")
	rep, err := prune.Run(ctx, open(t, store), prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksMarked != len(planned) || rep.PacksRepacked != plan.PacksRepacked || rep.Actions != nil {
		t.Fatalf("the prune did not follow its dry run's plan: %+v, planned %+v", rep, plan)
	}
	if rep.PacksMarked < 2 || rep.PacksDeleted != 0 || rep.BytesMarked == 0 {
		t.Fatalf("first prune: %+v", rep)
	}
	mid := countObjects(t, store, "data/") // with the copies of repacked blobs
	if mid < before {
		t.Fatalf("the first prune deleted packs: %d of %d left", mid, before)
	}
	crep, err := checker.Check(ctx, open(t, store), checker.Options{ReadData: true})
	if err != nil || !crep.OK() || crep.MarkedPacks != rep.PacksMarked || len(crep.UnreferencedPacks) != 0 {
		t.Fatalf("check between the phases: %v %+v", err, crep)
	}
	verify(t, store, src)

	early, err := prune.Run(ctx, openAt(t, store, time.Now().Add(prune.DefaultGrace/2)), prune.Options{})
	if err != nil || early.PacksDeleted != 0 || early.MarksWaiting != 1 || !strings.Contains(early.WaitingFor, "grace period") {
		t.Fatalf("a prune within the grace period: %v %+v", err, early)
	}
	dry, err := prune.Run(ctx, openAt(t, store, time.Now().Add(2*prune.DefaultGrace)), prune.Options{DryRun: true})
	if err != nil || dry.PacksDeleted != rep.PacksMarked || countObjects(t, store, "marks/") != 1 {
		t.Fatalf("dry run after the grace period: %v %+v", err, dry)
	}
	if deleted := actionsOf(t, dry, "delete"); !maps.Equal(deleted, planned) {
		t.Fatalf("the plan after the grace period deletes %v, not the %v marked", deleted, planned)
	}
	late, err := prune.Run(ctx, openAt(t, store, time.Now().Add(2*prune.DefaultGrace)), prune.Options{})
	if err != nil || late.PacksDeleted != rep.PacksMarked || late.MarksSwept != 1 || late.PacksMarked != 0 {
		t.Fatalf("a prune after the grace period: %v %+v", err, late)
	}
	if got := countObjects(t, store, "data/"); got != mid-rep.PacksMarked {
		t.Fatalf("%d packs after the sweep, want %d (%d less %d marked)", got, mid-rep.PacksMarked, mid, rep.PacksMarked)
	}
	if countObjects(t, store, "marks/") != 0 {
		t.Fatal("the swept mark is still there")
	}
	verify(t, store, src)
}

// --exclusive deletes at once, this run's packs and earlier marks alike.
func TestExclusiveDeletesAtOnce(t *testing.T) {
	ctx := context.Background()
	store, src := setup(t)
	before := countObjects(t, store, "data/")
	rep, err := prune.Run(ctx, open(t, store), prune.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksDeleted == 0 || rep.PacksDeleted != rep.PacksMarked || countObjects(t, store, "marks/") != 0 {
		t.Fatalf("exclusive prune: %+v", rep)
	}
	if got := countObjects(t, store, "data/"); got >= before {
		t.Fatalf("%d packs before, %d after", before, got)
	}
	verify(t, store, src)
}

// No value below the minimum is taken for a grace period.
func TestGraceRefused(t *testing.T) {
	store, _ := setup(t)
	for _, g := range []time.Duration{-time.Hour, -1, time.Millisecond} {
		if _, err := prune.Run(context.Background(), open(t, store), prune.Options{Grace: g}); err == nil || !strings.Contains(err.Error(), "grace period") {
			t.Fatalf("grace %s: %v", g, err)
		}
	}
	if countObjects(t, store, "marks/") != 0 {
		t.Fatal("a refused prune marked packs")
	}
}

// A prune that dies after any number of writes leaves a repository that
// check accepts and restores from; the next prunes finish the job,
// leaving nothing to prune.
func TestCrashAtEveryStep(t *testing.T) {
	ctx := context.Background()
	for _, exclusive := range []bool{false, true} {
		t.Run(fmt.Sprintf("exclusive=%v", exclusive), func(t *testing.T) {
			full, _ := setup(t)
			rep, err := prune.Run(ctx, open(t, full), prune.Options{Exclusive: exclusive})
			if err != nil {
				t.Fatal(err)
			}
			if rep.PacksMarked < 2 {
				t.Fatalf("the setup gives prune too little to do: %+v", rep)
			}
			for n := int64(0); n < 60; n++ {
				store, src := setup(t)
				crash := &crashAt{Target: store, n: n}
				_, err := prune.Run(ctx, open(t, crash), prune.Options{Exclusive: exclusive})
				if err == nil {
					t.Logf("prune needs %d writes", n)
					verify(t, store, src)
					settle(t, store)
					verify(t, store, src)
					return
				}
				if !errors.Is(err, errCrash) {
					t.Fatalf("crash after %d writes: %v", n, err)
				}
				// The crashed process left its lock: it is gone, so the lock is
				// stale on this host only by its PID; remove it as unlock would.
				if _, err := open(t, store).RemoveStaleLocks(ctx, true); err != nil {
					t.Fatal(err)
				}
				verify(t, store, src)
				settle(t, store)
				verify(t, store, src)
				// Nothing unneeded is left behind for good.
				again, err := prune.Run(ctx, open(t, store), prune.Options{DryRun: true})
				if err != nil || again.PacksMarked != 0 || again.PacksDeleted != 0 {
					t.Fatalf("after a crash at write %d and the prunes that follow, still to prune: %v %+v", n, err, again)
				}
			}
			t.Fatal("prune did not finish within 60 writes")
		})
	}
}

// Temporary files that killed runs left in a local repository (packs, keys,
// index files) are removed once an hour old; younger ones may belong to a
// running backup.
func TestStaleTemporaryPacksRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tg, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repository.Init(ctx, tg, []byte("pw"), repository.Options{KDF: kdf})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tmp, err := tg.TempDir() // where backups write their packs before publishing them
	if err != nil {
		t.Fatal(err)
	}
	// A temporary pack, and the temporary files of killed writes of a key
	// and an index file, each old and young.
	old := []string{filepath.Join(tmp, ".tmp-pack-old"), filepath.Join(dir, "keys", ".tmp-old"), filepath.Join(dir, "index", ".tmp-old")}
	young := []string{filepath.Join(tmp, ".tmp-pack-young"), filepath.Join(dir, "keys", ".tmp-young")}
	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	for _, p := range append(slices.Clone(old), young...) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 1000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range old {
		if err := os.Chtimes(p, twoHoursAgo, twoHoursAgo); err != nil {
			t.Fatal(err)
		}
	}
	exist := func(ps []string) (n int) {
		for _, p := range ps {
			if _, err := os.Stat(p); err == nil {
				n++
			}
		}
		return n
	}

	rep, err := prune.Run(ctx, r, prune.Options{DryRun: true})
	if err != nil || rep.TempFiles != len(old) || rep.BytesFreed != int64(1000*len(old)) || exist(old) != len(old) {
		t.Fatalf("dry run: %+v %v, old files there: %d", rep, err, exist(old))
	}
	rep, err = prune.Run(ctx, r, prune.Options{})
	if err != nil || rep.TempFiles != len(old) || exist(old) != 0 || exist(young) != len(young) {
		t.Fatalf("prune: %+v %v; old there: %d, young there: %d", rep, err, exist(old), exist(young))
	}
}
