package repository

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

// countingTarget counts the reads of each kind of object.
type countingTarget struct {
	targets.Target
	mu    sync.Mutex
	reads map[string]int // by prefix: "snapshots", "index", ...
}

func (c *countingTarget) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.mu.Lock()
	kind, _, _ := strings.Cut(name, "/")
	c.reads[kind]++
	c.mu.Unlock()
	return c.Target.Get(ctx, name, off, n)
}

func (c *countingTarget) take(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.reads[kind]
	c.reads[kind] = 0
	return n
}

// openCached opens the repository on tg without a lock, caching in dir,
// until the test ends.
func openCached(t *testing.T, tg targets.Target, dir string) *Repository {
	t.Helper()
	r, err := Open(context.Background(), tg, []byte("pw"), Options{NoLock: true, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// The cache serves snapshot and index files the repository still lists,
// only as stored (a damaged copy is read again), and forgets those it no
// longer lists.
func TestCacheOfSnapshotsAndIndex(t *testing.T) {
	ctx := context.Background()
	tg := &countingTarget{Target: mem.New(), reads: map[string]int{}}
	writer := testRepo(t, tg)
	w := writer.NewWriter(ctx)
	b := blob(1, 10_000, false)
	if _, err := w.SaveBlob(pack.DataBlob, writer.BlobID(b), b); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	var ids []pack.ID
	for i := range 5 {
		id, err := writer.SaveSnapshot(ctx, &Snapshot{Time: time.Unix(int64(i), 0), Host: "h", Tree: pack.ID{1}, Paths: []string{"/d"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	dir := t.TempDir()
	open := func() *Repository { return openCached(t, tg, dir) }
	load := func(r *Repository) {
		t.Helper()
		if sns, err := r.Snapshots(ctx); err != nil || len(sns) != len(ids) {
			t.Fatalf("snapshots: %d, %v", len(sns), err)
		}
		if err := r.LoadIndex(ctx); err != nil || r.Index().Len() != 1 {
			t.Fatalf("index: %d blobs, %v", r.Index().Len(), err)
		}
	}
	tg.take("snapshots")
	tg.take("index")
	load(open())
	if s, i := tg.take("snapshots"), tg.take("index"); s != len(ids) || i != 1 {
		t.Fatalf("first run read %d snapshot and %d index files, want %d and 1", s, i, len(ids))
	}
	load(open())
	if s, i := tg.take("snapshots"), tg.take("index"); s != 0 || i != 0 {
		t.Fatalf("second run read %d snapshot and %d index files, want none", s, i)
	}

	// A damaged copy is read again from the repository and replaced.
	cid := writer.cfg.ID
	damaged := filepath.Join(dir, cid, "snapshots", ids[2].String())
	if err := os.WriteFile(damaged, []byte("not what was stored"), 0o600); err != nil {
		t.Fatal(err)
	}
	load(open())
	if s := tg.take("snapshots"); s != 1 {
		t.Fatalf("%d snapshot files read with one damaged copy, want 1", s)
	}
	// A forgotten snapshot's copy goes at the next listing.
	if err := writer.DeleteSnapshot(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	ids = ids[1:]
	load(open())
	if _, err := os.Stat(filepath.Join(dir, cid, "snapshots", ids[0].String())); err != nil {
		t.Fatalf("a listed snapshot's copy is gone: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, cid, "snapshots")); len(entries) != len(ids) {
		t.Fatalf("%d copies for %d snapshots", len(entries), len(ids))
	}

	// Without a cache directory nothing is kept.
	r, err := Open(ctx, tg, []byte("pw"), Options{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tg.take("snapshots")
	for range 2 {
		if _, err := r.Snapshots(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s := tg.take("snapshots"); s != 2*len(ids) {
		t.Fatalf("without a cache, two listings read %d snapshot files, want %d", s, 2*len(ids))
	}
}

// A backup keeps the tree packs and index files it uploads in the cache,
// so the next run reads its trees and index from there; a damaged copy
// costs a read from the repository, never a damage report; copies of
// packs the index no longer names go when it is loaded.
func TestCacheOfTreePacks(t *testing.T) {
	ctx := context.Background()
	tg := &countingTarget{Target: mem.New(), reads: map[string]int{}}
	testRepo(t, tg).Close()
	dir := t.TempDir()
	open := func() *Repository {
		t.Helper()
		r := openCached(t, tg, dir)
		if err := r.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	writer := open()
	w := writer.NewWriter(ctx)
	trees := map[pack.ID][]byte{}
	for i := range 20 {
		b := blob(uint64(100+i), 2_000, true)
		id := writer.BlobID(b)
		trees[id] = b
		if _, err := w.SaveBlob(pack.TreeBlob, id, b); err != nil {
			t.Fatal(err)
		}
	}
	data := blob(7, 50_000, false)
	if _, err := w.SaveBlob(pack.DataBlob, writer.BlobID(data), data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	readAll := func(r *Repository) {
		t.Helper()
		for id, want := range trees {
			got, err := r.LoadBlob(ctx, pack.TreeBlob, id, nil)
			if err != nil || string(got) != string(want) {
				t.Fatalf("tree %s: %v", id.Short(), err)
			}
		}
	}
	tg.take("data")
	tg.take("index")
	readAll(open())
	if n := tg.take("data"); n != 0 {
		t.Fatalf("the trees the backup wrote were read %d times from the repository, want none (cached on upload)", n)
	}
	if n := tg.take("index"); n != 0 {
		t.Fatalf("the index files the backup wrote were read %d times from the repository, want none (cached when written)", n)
	}
	cached, _ := filepath.Glob(filepath.Join(dir, writer.cfg.ID, treesDir, "*"))
	if len(cached) == 0 {
		t.Fatal("no tree pack in the cache")
	}

	// Damage every cached copy: the trees are read from the repository.
	for _, p := range cached {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(b); i += 97 {
			b[i] ^= 0x55
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	readAll(open())
	if n := tg.take("data"); n == 0 {
		t.Fatal("damaged copies were used")
	}
	readAll(open()) // and cached again
	tg.take("data")
	readAll(open())
	if n := tg.take("data"); n != 0 {
		t.Fatalf("after a damaged copy, the trees were read %d times again, want none (cached again)", n)
	}

	// A copy of a pack the index does not name goes.
	stray := filepath.Join(dir, writer.cfg.ID, treesDir, pack.ID{9, 9, 9}.String())
	if err := os.WriteFile(stray, []byte("a pack a prune deleted"), 0o600); err != nil {
		t.Fatal(err)
	}
	open()
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("the copy of an unindexed pack stayed: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, writer.cfg.ID, treesDir, "*")); len(left) != len(cached) {
		t.Fatalf("%d tree packs cached, want %d", len(left), len(cached))
	}
}
