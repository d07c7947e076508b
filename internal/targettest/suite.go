// Package targettest is the conformance suite every targets.Target passes.
// A new target plugs in with a test that calls Run with a constructor of
// fresh, empty targets.
package targettest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/lifeboat-backup/lifeboat/targets"
)

// Run checks the targets.Target contract. newTarget must return an empty
// target each time it is called.
func Run(t *testing.T, newTarget func(t *testing.T) targets.Target) {
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, newTarget(t)) })
	t.Run("Ranges", func(t *testing.T) { testRanges(t, newTarget(t)) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, newTarget(t)) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, newTarget(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newTarget(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newTarget(t)) })
	t.Run("PutIfAbsent", func(t *testing.T) { testPutIfAbsent(t, newTarget(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newTarget(t)) })
	t.Run("Cancelled", func(t *testing.T) { testCancelled(t, newTarget(t)) })
	t.Run("PutFile", func(t *testing.T) { testPutFile(t, newTarget(t)) })
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustGet(t *testing.T, tg targets.Target, name string, off, n int64) []byte {
	t.Helper()
	b, err := targets.ReadRange(context.Background(), tg, name, off, n)
	if err != nil {
		t.Fatalf("get %s [%d,%d): %v", name, off, n, err)
	}
	return b
}

func testPutGet(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	for _, size := range []int{0, 1, 4096, 3<<20 + 17} {
		name := fmt.Sprintf("data/ab/obj-%d", size)
		want := random(t, size)
		if err := tg.Put(ctx, name, want); err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		if got := mustGet(t, tg, name, 0, -1); !bytes.Equal(got, want) {
			t.Fatalf("size %d: read back %d bytes, differ", size, len(got))
		}
		fi, err := tg.Stat(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size != int64(size) || fi.Name != name {
			t.Fatalf("stat = %+v, want name %s size %d", fi, name, size)
		}
	}
}

func testRanges(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	data := random(t, 10000)
	if err := tg.Put(ctx, "r", data); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ off, n int64 }{{0, 10}, {9990, 10}, {5000, -1}, {10000, 0}, {1234, 4321}}
	for _, c := range cases {
		want := data[c.off:]
		if c.n >= 0 {
			want = data[c.off : c.off+c.n]
		}
		if got := mustGet(t, tg, "r", c.off, c.n); !bytes.Equal(got, want) {
			t.Fatalf("range %d+%d: got %d bytes, differ", c.off, c.n, len(got))
		}
	}
	for _, c := range []struct{ off, n int64 }{{9995, 10}, {10001, 0}, {10001, 5}} {
		rc, err := tg.Get(ctx, "r", c.off, c.n)
		if err == nil {
			rc.Close()
		}
		if !errors.Is(err, targets.ErrOutOfRange) {
			t.Fatalf("range %d+%d past the end of 10000 bytes: got %v, want ErrOutOfRange", c.off, c.n, err)
		}
	}
}

func testMissing(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	if _, err := tg.Get(ctx, "nope", 0, -1); !errors.Is(err, targets.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	if _, err := tg.Stat(ctx, "nope"); !errors.Is(err, targets.ErrNotFound) {
		t.Fatalf("stat missing: %v, want ErrNotFound", err)
	}
}

func testReplace(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	if err := tg.Put(ctx, "locks/x", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := tg.Put(ctx, "locks/x", []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, tg, "locks/x", 0, -1); string(got) != "second" {
		t.Fatalf("after replace: %q", got)
	}
}

func testList(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	names := []string{"config", "data/00/aa", "data/00/ab", "data/01/ba", "index/i1", "snapshots/s1"}
	for _, n := range names {
		if err := tg.Put(ctx, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(prefix string) []string {
		var got []string
		err := tg.List(ctx, prefix, func(fi targets.Info) error {
			if fi.Size != int64(len(fi.Name)) {
				t.Errorf("list %s: size %d", fi.Name, fi.Size)
			}
			got = append(got, fi.Name)
			return nil
		})
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		sort.Strings(got)
		return got
	}
	for prefix, want := range map[string][]string{
		"data/":     {"data/00/aa", "data/00/ab", "data/01/ba"},
		"data/00/":  {"data/00/aa", "data/00/ab"},
		"data/00/a": {"data/00/aa", "data/00/ab"},
		"index/":    {"index/i1"},
		"locks/":    nil,
		"":          names,
	} {
		if got := list(prefix); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("list %q = %v, want %v", prefix, got, want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := tg.List(ctx, "data/", func(targets.Info) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("list stopped by fn: err %v after %d calls", err, n)
	}
}

func testDelete(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	if err := tg.Put(ctx, "snapshots/d", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := tg.Delete(ctx, "snapshots/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Stat(ctx, "snapshots/d"); !errors.Is(err, targets.ErrNotFound) {
		t.Fatalf("stat deleted: %v", err)
	}
	if err := tg.Delete(ctx, "snapshots/d"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
}

func testPutIfAbsent(t *testing.T, tg targets.Target) {
	c, ok := tg.(targets.Creator)
	if !ok {
		t.Skip("target has no PutIfAbsent capability")
	}
	ctx := context.Background()
	if err := c.PutIfAbsent(ctx, "keys/k", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := c.PutIfAbsent(ctx, "keys/k", []byte("second")); !errors.Is(err, targets.ErrAlreadyExists) {
		t.Fatalf("second PutIfAbsent: %v, want ErrAlreadyExists", err)
	}
	if got := mustGet(t, tg, "keys/k", 0, -1); string(got) != "first" {
		t.Fatalf("after refused PutIfAbsent: %q", got)
	}
}

// testConcurrent writes and reads many objects at once; the race detector
// and read-back comparisons catch unsafe implementations.
func testConcurrent(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	const n = 32
	want := make([][]byte, n)
	for i := range want {
		want[i] = random(t, 1000+i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("data/%02x/c%d", i%4, i)
			if err := tg.Put(ctx, name, want[i]); err != nil {
				errs <- err
				return
			}
			got, err := targets.ReadAll(ctx, tg, name)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, want[i]) {
				errs <- fmt.Errorf("%s: content differs", name)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	count := 0
	if err := tg.List(ctx, "data/", func(targets.Info) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("listed %d objects, want %d", count, n)
	}
}

func testCancelled(t *testing.T, tg targets.Target) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tg.Put(ctx, "x", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with cancelled context: %v", err)
	}
	if _, err := tg.Stat(context.Background(), "x"); !errors.Is(err, targets.ErrNotFound) {
		t.Fatalf("cancelled put left an object: %v", err)
	}
}

// testPutFile publishes local files, through the target's FilePutter if it
// has one, in its temporary directory if it offers one.
func testPutFile(t *testing.T, tg targets.Target) {
	ctx := context.Background()
	dir := t.TempDir()
	if td, ok := tg.(targets.TempDirer); ok {
		var err error
		if dir, err = td.TempDir(); err != nil {
			t.Fatal(err)
		}
	}
	for i, size := range []int{0, 100, 2<<20 + 5} {
		want := random(t, size)
		f, err := os.CreateTemp(dir, targets.TempPrefix+"test-*")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(want); err != nil {
			t.Fatal(err)
		}
		f.Close()
		name := fmt.Sprintf("data/pf/file-%d", i)
		if err := targets.PutFile(ctx, tg, name, f.Name()); err != nil {
			t.Fatalf("PutFile %d bytes: %v", size, err)
		}
		os.Remove(f.Name())
		if got := mustGet(t, tg, name, 0, -1); !bytes.Equal(got, want) {
			t.Fatalf("PutFile %d bytes: read back %d, differ", size, len(got))
		}
	}
	n := 0
	if err := tg.List(ctx, "data/", func(fi targets.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("listed %d objects after 3 PutFiles (temporary files must not show)", n)
	}
}
