package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

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

// Uploaded packs are indexed after packsPerIndex packs, or when a pack is
// uploaded indexInterval after the last index file: on a slow store a
// killed run still leaves most of its packs indexed for the next one.
func TestWriterIndexesByCountAndTime(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		tick     time.Duration // how far the clock moves per reading (one per pack)
		min, max int           // index files in the end
	}{
		{"fast store", 0, 2, 2},                        // after 8 packs, and the last 2 at Finish
		{"slow store", indexInterval / 2, 5, 6},        // every second pack
		{"very slow store", 2 * indexInterval, 10, 10}, // every pack
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := mem.New()
			var mu sync.Mutex
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				clock = clock.Add(tc.tick)
				return clock
			}
			r, err := Init(ctx, tg, []byte("pw"), Options{KDF: fastKDF, PackSize: minPackSize, Now: now, Uploads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			w := r.NewWriter(ctx)
			// Ten packs: incompressible blobs, 11 to a pack.
			for i := 0; i < 110; i++ {
				b := blob(uint64(i), 100_000, false)
				if _, err := w.SaveBlob(pack.DataBlob, r.BlobID(b), b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			files, packs := 0, 0
			_ = tg.List(ctx, "index/", func(targets.Info) error { files++; return nil })
			_ = tg.List(ctx, "data/", func(targets.Info) error { packs++; return nil })
			if packs != 10 || files < tc.min || files > tc.max {
				t.Fatalf("%d packs, %d index files; want 10 packs and %d to %d index files", packs, files, tc.min, tc.max)
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
