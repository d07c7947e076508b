package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/targets/local"
)

func repoSize(t *testing.T, dir string) int64 {
	var n int64
	_ = filepath.Walk(filepath.Join(dir, "data"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// forget + prune frees the space of forgotten data, keeps what remaining
// snapshots need (check --read-data, restores), and refuses to run beside
// a lock holder.
func TestPrune(t *testing.T) {
	c := newCLI(t)
	c.ok("init", "--pack-size", "1")
	src := t.TempDir()
	keepFile := treetest.RandomBytes(1, 3<<20)
	if err := os.WriteFile(filepath.Join(src, "keep.bin"), keepFile, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := os.WriteFile(filepath.Join(src, "churn.bin"), treetest.RandomBytes(uint64(10+i), 4<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		c.ok("backup", "--path", src)
	}
	c.ok("prune") // nothing forgotten yet: nothing to free beyond duplicates
	before := repoSize(t, c.repo)
	c.ok("forget", "--keep-last", "1")
	dry := lastOfType(t, jsonLines(t, c.ok("prune", "--dry-run", "--json")), "prune")
	if repoSize(t, c.repo) != before || dry["report"].(map[string]any)["bytes_freed"].(float64) < 10<<20 {
		t.Fatalf("dry run: %v", dry)
	}
	out := c.ok("prune")
	after := repoSize(t, c.repo)
	if after > before-10<<20 {
		t.Fatalf("prune freed %d of %d bytes:\n%s", before-after, before, out)
	}
	c.ok("check", "--read-data")
	dst := t.TempDir()
	c.ok("restore", "latest", "--target", dst)
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatal(err)
	}
	// A second prune has nothing left to do.
	rep := lastOfType(t, jsonLines(t, c.ok("prune", "--json")), "prune")["report"].(map[string]any)
	if rep["packs_deleted"].(float64) != 0 || rep["packs_repacked"].(float64) != 0 {
		t.Fatalf("second prune: %v", rep)
	}
	// A live lock (as a running backup holds) keeps prune out.
	tg, err := local.New(c.repo)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Open(context.Background(), tg, []byte("correct horse"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	lock, err := repo.Lock(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	c.fails(11, "locked", "prune")
	_ = lock.Unlock(context.Background())
	c.ok("prune")
}
