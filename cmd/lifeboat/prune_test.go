package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
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

// forget + prune frees the space of forgotten data in two steps: a prune
// marks it, a later one (after --grace) deletes it; between the two and
// after, check --read-data passes and the snapshot restores. Backups run
// beside a prune; another prune and --exclusive do not.
func TestPrune(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init", "--pack-size", "1")
	src := t.TempDir()
	keepFile := treetest.RandomBytes(1, 3<<20)
	if err := os.WriteFile(filepath.Join(src, "keep.bin"), keepFile, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := os.WriteFile(filepath.Join(src, "churn.bin"), treetest.RandomBytes(uint64(10+i), 4<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		c.OK("backup", "--path", src)
	}
	c.OK("prune") // nothing forgotten yet: nothing to free beyond duplicates
	before := repoSize(t, c.Repo)
	c.OK("forget", "--keep-last", "1")
	report := func(args ...string) prune.Report {
		t.Helper()
		return clitest.LastMessage[results.DryRun[prune.Report]](t, c.OK(append([]string{"prune", "--json"}, args...)...), "prune").Report
	}
	dry := report("--dry-run")
	if repoSize(t, c.Repo) != before || dry.BytesMarked < 10<<20 || len(dry.Actions) != dry.PacksMarked {
		t.Fatalf("dry run: %+v", dry)
	}
	marked := report()
	if marked.BytesMarked < 10<<20 || marked.PacksDeleted != 0 || repoSize(t, c.Repo) < before {
		t.Fatalf("the first prune: %+v", marked)
	}
	check := func() {
		t.Helper()
		c.OK("check", "--read-data")
		dst := t.TempDir()
		c.OK("restore", "latest", "--target", dst)
		if err := treetest.Compare(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	check()
	if out := c.OK("check"); !strings.Contains(out, "marked for deletion") {
		t.Fatalf("check does not mention the marked packs:\n%s", out)
	}
	if out := c.OK("prune"); !strings.Contains(out, "waiting for the grace period") {
		t.Fatalf("a prune within the grace period:\n%s", out)
	}
	// Once the mark is a second old, a prune with --grace 1s deletes.
	deadline := time.Now().Add(30 * time.Second)
	var swept prune.Report
	for tries := 0; ; tries++ {
		if swept = report("--grace", "1s"); swept.PacksDeleted > 0 || time.Now().After(deadline) {
			t.Logf("swept after %d prunes", tries+1)
			break
		}
		time.Sleep(200 * time.Millisecond) // the grace period is wall-clock time
	}
	if swept.PacksDeleted != marked.PacksMarked || repoSize(t, c.Repo) > before-10<<20 {
		t.Fatalf("the sweep freed %d of %d bytes: %+v", before-repoSize(t, c.Repo), before, swept)
	}
	check()
	if rep := report("--grace", "1s"); rep.PacksDeleted != 0 || rep.PacksMarked != 0 || rep.MarksWaiting != 0 {
		t.Fatalf("a prune with nothing left to do: %+v", rep)
	}

	tg, err := local.New(c.Repo)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Open(context.Background(), tg, []byte("correct horse"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	// A live shared lock (as a running backup holds) keeps out --exclusive
	// only.
	lock, err := repo.Lock(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	c.OK("prune")
	c.Fails(11, "locked", "prune", "--exclusive")
	_ = lock.Unlock(context.Background())
	// A running prune keeps out another prune, and no backup.
	lock, err = repo.LockPrune(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "churn.bin"), treetest.RandomBytes(99, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c.OK("backup", "--path", src)
	c.Fails(11, "prune lock", "prune")
	_ = lock.Unlock(context.Background())
	c.OK("forget", "--keep-last", "1")
	if rep := report("--exclusive"); rep.PacksDeleted == 0 || rep.PacksDeleted != rep.PacksMarked {
		t.Fatalf("prune --exclusive: %+v", rep)
	}
	check()
	for _, v := range []string{"0", "-1h", "500ms", "soon"} {
		c.Fails(2, "--grace", "prune", "--grace", v)
	}
}
