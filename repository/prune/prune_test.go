package prune_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
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

// A prune that dies after any number of writes leaves a repository that
// check accepts and restores from; the next prune finishes the job.
func TestCrashAtEveryStep(t *testing.T) {
	ctx := context.Background()
	full, _ := setup(t)
	rep, err := prune.Run(ctx, open(t, full), prune.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.PacksDeleted == 0 || rep.PacksRepacked+rep.PacksDeleted < 2 {
		t.Fatalf("the setup gives prune too little to do: %+v", rep)
	}
	for n := int64(0); n < 40; n++ {
		store, src := setup(t)
		crash := &crashAt{Target: store, n: n}
		_, err := prune.Run(ctx, open(t, crash), prune.Options{})
		if err == nil {
			t.Logf("prune needs %d writes", n)
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
		if _, err := prune.Run(ctx, open(t, store), prune.Options{}); err != nil {
			t.Fatalf("prune after a crash at write %d: %v", n, err)
		}
		verify(t, store, src)
	}
	t.Fatal(fmt.Errorf("prune did not finish within 40 writes"))
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
