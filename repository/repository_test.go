package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/faulty"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

// fastKDF keeps tests quick; real keys use crypto.DefaultKDF.
func fastKDF() (crypto.KDFParams, error) { return crypto.NewKDF(1, 64, 1) }

func testRepo(t *testing.T, tg targets.Target) *Repository {
	t.Helper()
	r, err := Init(context.Background(), tg, []byte("pw"), Options{KDF: fastKDF, PackSize: minPackSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestInitOpen(t *testing.T) {
	ctx := context.Background()
	tg := mem.New()
	if _, err := Open(ctx, tg, []byte("pw"), Options{}); !errors.Is(err, ErrNotRepository) {
		t.Fatalf("open empty: %v", err)
	}
	r := testRepo(t, tg)
	if _, err := Init(ctx, tg, []byte("pw"), Options{KDF: fastKDF}); !errors.Is(err, ErrRepositoryExists) {
		t.Fatalf("init twice: %v", err)
	}
	if _, err := Open(ctx, tg, []byte("nope"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	r2, err := Open(ctx, tg, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Config() != r.Config() || r2.KeyID() != r.KeyID() {
		t.Fatal("reopened repository differs")
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	tg := mem.New()
	r := testRepo(t, tg)
	second, err := r.AddKey(ctx, []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ctx, tg, []byte("two"), Options{})
	if err != nil || r2.KeyID() != second {
		t.Fatalf("open with second key: %v", err)
	}
	keys, _ := r.Keys(ctx)
	if len(keys) != 2 {
		t.Fatalf("%d keys", len(keys))
	}
	if err := r.RemoveKey(ctx, r.KeyID()); err == nil {
		t.Fatal("removed the key in use")
	}
	if err := r.RemoveKey(ctx, second); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, tg, []byte("two"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("removed key still opens: %v", err)
	}
	if _, err := r.ChangePassword(ctx, []byte("three")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, tg, []byte("pw"), Options{}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old password after passwd: %v", err)
	}
	if _, err := Open(ctx, tg, []byte("three"), Options{}); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

func blob(seed uint64, n int, compressible bool) []byte {
	b := make([]byte, n)
	if compressible {
		for i := range b {
			b[i] = "lifeboat "[i%9]
		}
		b[0] = byte(seed)
		return b
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// Concurrent savers deduplicate, every blob reads back verified after a
// reopen, and damage is detected.
func TestWriterConcurrentDedup(t *testing.T) {
	ctx := context.Background()
	tg := mem.New()
	r := testRepo(t, tg)
	w := r.NewWriter(ctx)
	var blobs [][]byte
	for i := 0; i < 60; i++ {
		blobs = append(blobs, blob(uint64(i), 100_000, i%2 == 0))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range blobs { // every goroutine saves every blob
				isNew, err := w.SaveBlob(pack.DataBlob, r.BlobID(b), b)
				if err != nil {
					t.Error(err)
					return
				}
				if isNew {
					mu.Lock()
					added++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	st, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if added != len(blobs) || st.BlobsAdded != int64(len(blobs)) {
		t.Fatalf("added %d (stats %d), want %d", added, st.BlobsAdded, len(blobs))
	}
	r2, err := Open(ctx, tg, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r2.LockAndLoad(ctx, false); err != nil {
		t.Fatal(err)
	}
	if r2.Index().Len() != len(blobs) {
		t.Fatalf("index has %d blobs", r2.Index().Len())
	}
	for i, b := range blobs {
		got, err := r2.LoadBlob(ctx, pack.DataBlob, r.BlobID(b), nil)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
	// Flip a byte inside the first blob of a pack: loading it must fail.
	loc, _ := r2.Index().Lookup(pack.DataBlob, r.BlobID(blobs[1]))
	if err := tg.Corrupt(PackName(loc.Pack), int(loc.Entry.Offset)+20); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.LoadBlob(ctx, pack.DataBlob, r.BlobID(blobs[1]), nil); !errors.Is(err, ErrDamaged) {
		t.Fatalf("corrupted blob: %v", err)
	}
}

func TestSnapshotsFind(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := testRepo(t, mem.New())
	for i, host := range []string{"a", "b", "a"} {
		s := &Snapshot{Time: now.Add(time.Duration(i) * time.Hour), Host: host, Tree: pack.ID{1}, Paths: []string{"/data"}, Tags: []string{fmt.Sprint("t", i)}}
		if _, err := r.SaveSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	all, err := r.Snapshots(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("%d snapshots, %v", len(all), err)
	}
	latest, err := FindSnapshot(all, "latest", Filter{Host: "b"})
	if err != nil || latest.Host != "b" {
		t.Fatalf("latest host b: %v", err)
	}
	latest, _ = FindSnapshot(all, "latest", Filter{})
	if !latest.Time.Equal(now.Add(2 * time.Hour)) {
		t.Fatalf("latest is %v", latest.Time)
	}
	byPrefix, err := FindSnapshot(all, all[0].ID.String()[:8], Filter{})
	if err != nil || byPrefix.ID != all[0].ID {
		t.Fatalf("prefix: %v", err)
	}
	if _, err := FindSnapshot(all, "latest", Filter{Tags: []string{"zzz"}}); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("no match: %v", err)
	}
}

func TestLocks(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	tg := mem.New()
	r := testRepo(t, tg)
	r.opts.Now = clock
	a, err := r.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Lock(ctx, false)
	if err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	if _, err := r.Lock(ctx, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive beside shared: %v", err)
	}
	if n, _ := r.RemoveStaleLocks(ctx, false); n != 0 {
		t.Fatalf("removed %d live locks", n)
	}
	_ = a.Unlock(ctx)
	_ = b.Unlock(ctx)
	x, err := r.Lock(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lock(ctx, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("shared beside exclusive: %v", err)
	}
	// Time passes without refresh: the lock of a vanished process is stale.
	now = now.Add(LockStaleAfter + time.Minute)
	if _, err := r.Lock(ctx, false); err != nil {
		t.Fatalf("stale exclusive lock still blocks: %v", err)
	}
	if n, _ := r.RemoveStaleLocks(ctx, false); n != 1 {
		t.Fatalf("removed %d stale locks, want 1", n)
	}
	_ = x.Unlock(ctx)
}

// A prune lock excludes other prunes and exclusive locks, and nothing
// else: backups take shared locks beside it.
func TestPruneLockKind(t *testing.T) {
	ctx := context.Background()
	r := testRepo(t, mem.New())
	p, err := r.LockPrune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Lock(ctx, false)
	if err != nil {
		t.Fatalf("shared beside prune: %v", err)
	}
	if _, err := r.LockPrune(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("prune beside prune: %v", err)
	}
	if _, err := r.Lock(ctx, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive beside prune: %v", err)
	}
	locks, err := r.Locks(ctx)
	if err != nil || len(locks) != 2 {
		t.Fatalf("%d locks, %v", len(locks), err)
	}
	kinds := map[string]bool{}
	for _, l := range locks {
		kinds[strings.Fields(l.String())[0]] = true
	}
	if !kinds["prune"] || !kinds["shared"] {
		t.Fatalf("lock kinds listed: %v", kinds)
	}
	_ = p.Unlock(ctx)
	_ = s.Unlock(ctx)
	x, err := r.Lock(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.LockPrune(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("prune beside exclusive: %v", err)
	}
	_ = x.Unlock(ctx)
}

// A lock whose refresh came later than others wait before they call it
// stale is lost for good: a later refresh does not make it usable again,
// as a prune may have deleted what its holder relies on meanwhile. The
// gap is taken on the wall clock, which others compare with.
func TestLateRefreshLosesTheLock(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	r := testRepo(t, mem.New())
	r.opts.Now = func() time.Time { return now }
	l, err := r.Lock(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx)
	now = now.Add(LockRefresh)
	if err := l.write(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckLocks(ctx); err != nil {
		t.Fatalf("a timely refresh: %v", err)
	}
	now = now.Add(LockStaleAfter - LockRefresh + time.Second) // a machine that slept
	if err := l.write(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckLocks(ctx); !errors.Is(err, ErrLockLost) {
		t.Fatalf("after a late refresh: %v, want ErrLockLost", err)
	}
	now = now.Add(time.Second)
	_ = l.write(ctx)
	if err := r.CheckLocks(ctx); !errors.Is(err, ErrLockLost) {
		t.Fatalf("a fresh refresh after a late one: %v, want ErrLockLost still", err)
	}
}

// writePacks saves n packs' worth of incompressible blobs (11 of 100 kB
// to a pack of minPackSize), the same ones for the same n, through a new
// writer, and returns them with Finish's error.
func writePacks(r *Repository, n int) ([][]byte, error) {
	w := r.NewWriter(context.Background())
	var blobs [][]byte
	for i := 0; i < 11*n; i++ {
		b := blob(uint64(i), 100_000, false)
		blobs = append(blobs, b)
		if _, err := w.SaveBlob(pack.DataBlob, r.BlobID(b), b); err != nil {
			w.Abort()
			return blobs, err
		}
	}
	_, err := w.Finish()
	return blobs, err
}

// Each uploaded pack is indexed at once; packsPerIndex checkpoints, and
// those left at Finish, become one index file and are deleted. Every blob
// is found by a fresh handle.
func TestWriterConsolidatesItsCheckpoints(t *testing.T) {
	ctx := context.Background()
	tg := mem.New()
	r, err := Init(ctx, tg, []byte("pw"), Options{KDF: fastKDF, PackSize: minPackSize, Uploads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := packsPerIndex + 6
	blobs, err := writePacks(r, n)
	if err != nil {
		t.Fatal(err)
	}
	files, packs := 0, 0
	_ = tg.List(ctx, "index/", func(targets.Info) error { files++; return nil })
	_ = tg.List(ctx, "data/", func(targets.Info) error { packs++; return nil })
	if packs != n || files != 2 {
		t.Fatalf("%d packs, %d index files; want %d packs and 2 index files (%d packs, then 6)", packs, files, n, packsPerIndex)
	}
	fresh, err := Open(ctx, tg, []byte("pw"), Options{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for i, b := range blobs {
		if _, ok := fresh.Index().Lookup(pack.DataBlob, r.BlobID(b)); !ok {
			t.Fatalf("blob %d of %d is not indexed", i, len(blobs))
		}
	}
}

// A run that dies (every call to the store fails from some moment on, as
// when the process is killed) leaves unindexed at most the packs its
// uploads were sending: the next run stores again only those and what the
// dead one never stored.
func TestKilledWriterLosesOnlyInFlightPacks(t *testing.T) {
	ctx := context.Background()
	const uploads, total = 4, 30
	for _, dieAfter := range []int{1, 7, 15, 22} {
		t.Run(fmt.Sprintf("dies after %d packs", dieAfter), func(t *testing.T) {
			tg := mem.New()
			var mu sync.Mutex
			stored, dead := 0, false
			ft := faulty.New(tg, faulty.Config{Hook: func(_ context.Context, op, name string) error {
				mu.Lock()
				defer mu.Unlock()
				if op == "put" && strings.HasPrefix(name, "data/") && !dead {
					if stored == dieAfter {
						dead = true
					} else {
						stored++
					}
				}
				if dead {
					return errors.New("the process is gone")
				}
				return nil
			}})
			r, err := Init(ctx, ft, []byte("pw"), Options{KDF: fastKDF, PackSize: minPackSize, Uploads: uploads})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := writePacks(r, total); err == nil {
				t.Fatal("the dead run finished")
			}
			r.Close()
			if stored != dieAfter {
				t.Fatalf("the run stored %d packs before it died, want %d", stored, dieAfter)
			}

			next, err := Open(ctx, tg, []byte("pw"), Options{NoLock: true, Uploads: uploads})
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			if err := next.LoadIndex(ctx); err != nil {
				t.Fatal(err)
			}
			indexed := len(next.Index().Packs())
			if lost := dieAfter - indexed; lost < 0 || lost > uploads {
				t.Fatalf("%d of the %d stored packs are indexed: %d lost, at most %d may be (one per upload)", indexed, dieAfter, lost, uploads)
			}
			w := next.NewWriter(ctx)
			added := 0
			for i := 0; i < 11*total; i++ {
				b := blob(uint64(i), 100_000, false)
				isNew, err := w.SaveBlob(pack.DataBlob, next.BlobID(b), b)
				if err != nil {
					t.Fatal(err)
				}
				if isNew {
					added++
				}
			}
			if _, err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			if want := 11 * (total - indexed); added != want {
				t.Fatalf("the next run stored %d blobs, want %d: all but the %d indexed packs' %d", added, want, indexed, 11*indexed)
			}
		})
	}
}

// A second LoadIndex adds what other handles indexed since the first, and
// reads no index file twice.
func TestLoadIndexAgainAddsNewFiles(t *testing.T) {
	ctx := context.Background()
	tg := mem.New()
	writer := testRepo(t, tg)
	save := func(seed uint64) pack.ID {
		t.Helper()
		w := writer.NewWriter(ctx)
		b := blob(seed, 50_000, false)
		if _, err := w.SaveBlob(pack.DataBlob, writer.BlobID(b), b); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		return writer.BlobID(b)
	}
	first := save(1)
	reader, err := Open(ctx, tg, []byte("pw"), Options{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if err := reader.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	second := save(2)
	if _, ok := reader.Index().Lookup(pack.DataBlob, second); ok {
		t.Fatal("a blob indexed after the load is known")
	}
	if err := reader.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []pack.ID{first, second} {
		if _, ok := reader.Index().Lookup(pack.DataBlob, id); !ok {
			t.Fatalf("blob %s unknown after the second load", id.Short())
		}
	}
	if got := len(reader.indexFiles); got != 2 {
		t.Fatalf("%d index files loaded, want 2 (none twice)", got)
	}
}

// A SnapshotSet loads each snapshot once, sees new ones and forgets
// deleted ones.
func TestSnapshotSet(t *testing.T) {
	ctx := context.Background()
	tg := mem.New()
	r := testRepo(t, tg)
	save := func(i int) pack.ID {
		t.Helper()
		id, err := r.SaveSnapshot(ctx, &Snapshot{Time: time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC), Host: fmt.Sprint("h", i), Tree: pack.ID{1}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	var gets atomic.Int64 // snapshots are loaded several at a time
	counting := faulty.New(tg, faulty.Config{Hook: func(_ context.Context, op, name string) error {
		if op == "get" && strings.HasPrefix(name, "snapshots/") {
			gets.Add(1)
		}
		return nil
	}})
	reader, err := Open(ctx, counting, []byte("pw"), Options{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	var set SnapshotSet
	first, second := save(2), save(1)
	got, err := set.Refresh(ctx, reader)
	if err != nil || len(got) != 2 || got[0].ID != second || got[1].ID != first || gets.Load() != 2 {
		t.Fatalf("first refresh: %v, %d snapshots, %d reads", err, len(got), gets.Load())
	}
	third := save(3)
	if err := r.DeleteSnapshot(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, err = set.Refresh(ctx, reader)
	if err != nil || len(got) != 2 || got[0].ID != second || got[1].ID != third || gets.Load() != 3 {
		t.Fatalf("second refresh: %v, %d snapshots, %d reads in all (want 3: only the new one read)", err, len(got), gets.Load())
	}
}
