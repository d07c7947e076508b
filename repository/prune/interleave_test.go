package prune_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/faulty"
	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

// gate holds the first listing of prefix until release is closed, and
// closes reached when it gets there.
type gate struct {
	prefix           string
	once             sync.Once
	reached, release chan struct{}
}

func newGate(prefix string) *gate {
	return &gate{prefix: prefix, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) hook(ctx context.Context, op, name string) error {
	if op == "list" && name == g.prefix {
		g.once.Do(func() {
			close(g.reached)
			select {
			case <-g.release:
			case <-ctx.Done():
			}
		})
	}
	return nil
}

// interleave starts work on a handle whose first listing of the locks is
// held, runs a prune on its own handle in that window, then lets the work
// go on. Holding the first look at the locks is the widest window a prune
// can have: on main before the ordering rule, the index and snapshots were
// read before it, and the prune deleted packs they named.
func interleave(t *testing.T, store *mem.Target, opts prune.Options, work func(r *repository.Repository) error) *prune.Report {
	t.Helper()
	ctx := context.Background()
	g := newGate("locks/")
	r, err := repository.Open(ctx, faulty.New(store, faulty.Config{Hook: g.hook}), []byte("pw"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan error, 1)
	go func() { done <- work(r) }()
	select {
	case <-g.reached:
	case err := <-done:
		t.Fatalf("the work ended before it looked at the locks: %v", err)
	}
	rep, err := prune.Run(ctx, open(t, store), opts)
	close(g.release)
	if err != nil {
		t.Fatalf("prune beside a starting run: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the run beside the prune: %v", err)
	}
	return rep
}

// A backup that starts while a prune deletes the only copy of content it is
// about to save again stores that content anew: it loads the index after it
// holds its lock, so it never skips a blob that the prune removed.
func TestPruneBesideStartingBackup(t *testing.T) {
	store, src, content := forgottenContent(t)
	var second *repository.Snapshot
	rep := interleave(t, store, prune.Options{Exclusive: true}, func(r *repository.Repository) error {
		var err error
		second, err = backupWith(r, src)
		return err
	})
	if rep.PacksDeleted == 0 {
		t.Fatalf("the prune deleted nothing, so the test tests nothing: %+v", rep)
	}
	if second.Summary.BytesAdded < int64(len(content)) {
		t.Fatalf("the backup added %d bytes, want at least all %d again (the prune removed them)", second.Summary.BytesAdded, len(content))
	}
	verifyRestore(t, store, second, map[string][]byte{"db": content})
}

// A restore that starts while a prune repacks the pack that holds the file
// it restores reads the new pack: it loads the index after its lock.
func TestPruneBesideStartingRestore(t *testing.T) {
	ctx := context.Background()
	store := repotest.Init(t, mem.New(), repository.Options{PackSize: 1 << 20})
	src := t.TempDir()
	small, big := treetest.RandomBytes(1, 100_000), treetest.RandomBytes(2, 800_000)
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("keep", small)
	write("churn", big)
	backup := func() *repository.Snapshot {
		r := open(t, store)
		defer r.Close()
		lock, err := r.LockAndLoad(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Unlock(ctx)
		sn, err := snapshot.New(r, snapshot.Options{}).Run(ctx, []string{src})
		if err != nil {
			t.Fatal(err)
		}
		return sn
	}
	first := backup() // one pack: keep and churn
	if err := os.Remove(filepath.Join(src, "churn")); err != nil {
		t.Fatal(err)
	}
	second := backup() // keep only, from the same pack
	if err := open(t, store).DeleteSnapshot(ctx, first.ID); err != nil {
		t.Fatal(err)
	}

	dst := t.TempDir()
	rep := interleave(t, store, prune.Options{Exclusive: true}, func(r *repository.Repository) error {
		lock, err := r.LockAndLoad(ctx, false)
		if err != nil {
			return err
		}
		defer lock.Unlock(ctx)
		_, err = restore.Run(ctx, r, second, dst, restore.Options{Verify: true})
		return err
	})
	if rep.PacksRepacked == 0 {
		t.Fatalf("the prune repacked nothing, so the test tests nothing: %+v", rep)
	}
	got, err := os.ReadFile(filepath.Join(dst, "keep"))
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("restored keep: %v", err)
	}
}

// forgottenContent stores content in a snapshot and forgets it: its packs
// are garbage for a prune, and the content is exactly what a backup of src
// finds again.
func forgottenContent(t *testing.T) (*mem.Target, string, []byte) {
	t.Helper()
	ctx := context.Background()
	store := repotest.Init(t, mem.New(), repository.Options{PackSize: 1 << 20})
	src := t.TempDir()
	content := treetest.RandomBytes(11, 3<<20)
	if err := os.WriteFile(filepath.Join(src, "db"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := backupWith(open(t, store), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := open(t, store).DeleteSnapshot(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	return store, src, content
}

func backupWith(r *repository.Repository, src string) (*repository.Snapshot, error) {
	ctx := context.Background()
	lock, err := r.LockAndLoad(ctx, false)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock(ctx)
	return snapshot.New(r, snapshot.Options{Force: true}).Run(ctx, []string{src})
}

// The interleaving the two phases exist for: a backup that read the index
// before a prune took packs out of it finds its content there, stores
// nothing, and publishes after the prune's listing of snapshots. The
// marked packs outlive it: it is readable at once (restore and check find
// the blobs in the mark), and the next prune takes them back instead of
// deleting them.
func TestBackupBesideMarkIsTakenBack(t *testing.T) {
	ctx := context.Background()
	store, src, content := forgottenContent(t)
	b := open(t, store)
	lock, err := b.LockAndLoad(ctx, false) // the index names the forgotten packs
	if err != nil {
		t.Fatal(err)
	}
	rep, err := prune.Run(ctx, open(t, store), prune.Options{})
	if err != nil || rep.PacksMarked == 0 || rep.PacksDeleted != 0 {
		t.Fatalf("prune beside the backup: %v %+v", err, rep)
	}
	sn, err := snapshot.New(b, snapshot.Options{Force: true}).Run(ctx, []string{src})
	if err != nil {
		t.Fatal(err)
	}
	if err := lock.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if sn.Summary.BytesAdded >= int64(len(content)) {
		t.Fatalf("the backup stored its content again (%d bytes), so the test tests nothing", sn.Summary.BytesAdded)
	}
	crep, err := checker.Check(ctx, open(t, store), checker.Options{ReadData: true})
	if err != nil || !crep.OK() || crep.NeededMarked == 0 {
		t.Fatalf("check before the next prune: %v %+v", err, crep)
	}
	verifyRestore(t, store, sn, map[string][]byte{"db": content})

	// After the grace period, with the backup's lock gone: taken back.
	later := time.Now().Add(2 * prune.DefaultGrace)
	rep, err = prune.Run(ctx, openAt(t, store, later), prune.Options{})
	if err != nil || rep.TakenBack == 0 || rep.PacksDeleted != 0 || rep.MarksSwept != 1 {
		t.Fatalf("prune after the backup: %v %+v", err, rep)
	}
	crep, err = checker.Check(ctx, open(t, store), checker.Options{ReadData: true})
	if err != nil || !crep.OK() || crep.NeededMarked != 0 || crep.MarkedPacks != 0 {
		t.Fatalf("check after the packs were taken back: %v %+v", err, crep)
	}
	if _, err := prune.Run(ctx, openAt(t, store, later.Add(2*prune.DefaultGrace)), prune.Options{}); err != nil {
		t.Fatal(err)
	}
	verifyRestore(t, store, sn, map[string][]byte{"db": content})
}

// A mark's packs wait for every run that held a lock when it was
// completed, whatever the grace period; once that run is gone they go.
func TestSweepWaitsForRunsThatSawThePacks(t *testing.T) {
	ctx := context.Background()
	store, _, _ := forgottenContent(t)
	running := open(t, store)
	lock, err := running.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	opts := prune.Options{Grace: time.Minute}
	rep, err := prune.Run(ctx, open(t, store), opts)
	if err != nil || rep.PacksMarked == 0 {
		t.Fatalf("mark: %v %+v", err, rep)
	}
	after := time.Now().Add(2 * time.Minute) // the grace period is over; the lock is fresh
	rep, err = prune.Run(ctx, openAt(t, store, after), opts)
	if err != nil || rep.PacksDeleted != 0 || rep.MarksWaiting != 1 || !strings.Contains(rep.WaitingFor, "shared lock") {
		t.Fatalf("sweep beside the run: %v %+v", err, rep)
	}
	if err := lock.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	marked := countObjects(t, store, "data/")
	rep, err = prune.Run(ctx, openAt(t, store, after), opts)
	if err != nil || rep.PacksDeleted == 0 || rep.MarksSwept != 1 || countObjects(t, store, "data/") != marked-rep.PacksDeleted {
		t.Fatalf("sweep once the run is gone: %v %+v", err, rep)
	}
}

// A handle that adds data cannot read the index before it holds a lock.
func TestIndexNeedsLockFirst(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	r, err := repository.Init(ctx, store, []byte("pw"), repository.Options{KDF: kdf})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.LoadIndex(ctx); !errors.Is(err, repository.ErrNotLocked) {
		t.Fatalf("LoadIndex without a lock: %v, want ErrNotLocked", err)
	}
	if _, err := snapshot.New(r, snapshot.Options{}).Run(ctx, []string{t.TempDir()}); !errors.Is(err, repository.ErrNotLocked) {
		t.Fatalf("backup without a lock: %v, want ErrNotLocked", err)
	}
	ro, err := repository.Open(ctx, store, []byte("pw"), repository.Options{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.LoadIndex(ctx); err != nil {
		t.Fatalf("a read-only handle loads the index without a lock: %v", err)
	}
}

// verifyRestore checks the repository with every pack read and restores sn.
func verifyRestore(t *testing.T, store *mem.Target, sn *repository.Snapshot, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	rep, err := checker.Check(ctx, open(t, store), checker.Options{ReadData: true})
	if err != nil || !rep.OK() {
		t.Fatalf("check: %v %+v", err, rep)
	}
	r := open(t, store)
	lock, err := r.LockAndLoad(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock(ctx)
	dst := t.TempDir()
	if _, err := restore.Run(ctx, r, sn, dst, restore.Options{Verify: true}); err != nil {
		t.Fatal(err)
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("restored %s differs: %v", name, err)
		}
	}
}

// A backup whose lock was removed by another process (unlock --remove-all
// beside it) or went unrefreshed for too long saves no snapshot: a prune
// may have deleted what it relies on.
func TestBackupWithLostLockSavesNothing(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		lose func(store *mem.Target, r *repository.Repository, advance func(time.Duration))
	}{
		{"removed", func(store *mem.Target, r *repository.Repository, _ func(time.Duration)) {
			if n, err := open(t, store).RemoveStaleLocks(ctx, true); err != nil || n != 1 {
				t.Fatalf("removed %d locks: %v", n, err)
			}
		}},
		{"not refreshed", func(_ *mem.Target, _ *repository.Repository, advance func(time.Duration)) {
			advance(repository.LockStaleAfter)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := mem.New()
			var mu sync.Mutex
			clock := time.Now()
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
			r, err := repository.Init(ctx, store, []byte("pw"), repository.Options{KDF: kdf, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			lock, err := r.LockAndLoad(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Unlock(ctx)
			tc.lose(store, r, advance)
			_, err = snapshot.New(r, snapshot.Options{}).Run(ctx, []string{src})
			if !errors.Is(err, repository.ErrLockLost) {
				t.Fatalf("backup after its lock was lost: %v, want ErrLockLost", err)
			}
			var n int
			_ = store.List(ctx, "snapshots/", func(targets.Info) error { n++; return nil })
			if n != 0 {
				t.Fatalf("%d snapshots saved", n)
			}
		})
	}
}

// An index file or snapshot removed between the listing and the read (a
// prune superseded it, another host forgot it) is no error for a reader.
func TestObjectsVanishingAfterListing(t *testing.T) {
	ctx := context.Background()
	store := repotest.Init(t, mem.New(), repository.Options{})
	src := t.TempDir()
	for i := 0; i < 3; i++ {
		if err := os.WriteFile(filepath.Join(src, "f"), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		r := open(t, store)
		lock, err := r.LockAndLoad(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := snapshot.New(r, snapshot.Options{}).Run(ctx, []string{src}); err != nil {
			t.Fatal(err)
		}
		_ = lock.Unlock(ctx)
	}
	var mu sync.Mutex
	gone := map[string]bool{}
	vanish := faulty.New(store, faulty.Config{Hook: func(ctx context.Context, op, name string) error {
		// The first index file and the first snapshot read go away just
		// before they are read.
		mu.Lock()
		defer mu.Unlock()
		if op == "get" && !gone[name[:5]] && (strings.HasPrefix(name, "index/") || strings.HasPrefix(name, "snaps")) {
			gone[name[:5]] = true
			return store.Delete(ctx, name)
		}
		return nil
	}})
	reader, err := repository.Open(ctx, vanish, []byte("pw"), repository.Options{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.LoadIndex(ctx); err != nil {
		t.Fatalf("an index file vanishing after the listing: %v", err)
	}
	all, err := reader.Snapshots(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("a snapshot vanishing after the listing: %d snapshots, %v", len(all), err)
	}
	if !gone["index"] || !gone["snaps"] {
		t.Fatalf("nothing vanished: %v", gone)
	}
}
