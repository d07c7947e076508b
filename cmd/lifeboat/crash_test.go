package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/messages"
)

func crashTree(t *testing.T) string {
	files := map[string][]byte{}
	for i := 0; i < 4; i++ {
		files[fmt.Sprintf("large/%d.bin", i)] = treetest.RandomBytes(uint64(100+i), 40<<20)
	}
	for i := 0; i < 1500; i++ {
		files[fmt.Sprintf("small/%02d/%d.txt", i%30, i)] = treetest.RandomBytes(uint64(i), 1000+i*7)
	}
	return clitest.WriteTree(t, files)
}

// Backups killed with SIGKILL at random moments leave a repository that
// check accepts; the next backup completes, reuses what was indexed, and
// restores exactly.
func TestKillDuringBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	c := lb.CLI(t)
	c.OK("init", "--pack-size", "2") // many packs: an index file within the first 16 MiB
	src := crashTree(t)
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	// Published index files only: a file being written (.tmp-...) in the
	// same folder is not one (counting it made this test fail when a kill
	// landed between the write and the rename).
	indexes := func() []string {
		m, _ := filepath.Glob(filepath.Join(c.Repo, "index", "*"))
		var out []string
		for _, p := range m {
			if len(filepath.Base(p)) == 64 && !strings.HasPrefix(filepath.Base(p), ".") {
				out = append(out, p)
			}
		}
		return out
	}
	landed := 0
	for i := 0; i < 6; i++ {
		cmd := c.Cmd("backup", "--path", src)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			// At a random moment.
			delay := time.Duration(50+rng.IntN(600)) * time.Millisecond
			time.Sleep(delay)
			t.Logf("kill %d after %v", i, delay)
		} else {
			// Once an index file exists: the next backup must reuse it.
			deadline := time.Now().Add(60 * time.Second)
			for len(indexes()) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("kill %d once %d index files exist", i, len(indexes()))
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		killed := false
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			killed = true
			landed++
		}
		if i == 5 && !killed {
			t.Fatalf("the backup finished before the kill that should find an index file: %v", cmd.ProcessState)
		}
		if !killed {
			t.Logf("backup %d finished before its kill (%v)", i, cmd.ProcessState)
		}
		c.OK("check")
	}
	if landed < 3 {
		t.Fatalf("only %d of 6 kills landed", landed)
	}
	n := len(indexes())
	if n == 0 {
		t.Fatal("no index file was written before the last kill")
	}
	sum := clitest.LastMessage[messages.BackupSummary](t, c.OK("backup", "--path", src, "--json"), "summary").Summary
	total, added := sum.TotalBytes, sum.BytesAdded
	t.Logf("after the kills: %d index files; final backup added %d of %d bytes", n, added, total)
	if added >= total {
		t.Fatalf("final backup stored everything again (%v of %v) although %d index files existed", added, total, n)
	}
	c.OK("check", "--read-data")
	dst := t.TempDir()
	c.OK("restore", "latest", "--target", dst, "--verify")
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatal(err)
	}
}

// Ctrl-C stops a backup with exit code 130, saves no snapshot, releases
// its lock, and leaves a valid repository.
func TestInterruptedBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	c := lb.CLI(t)
	c.OK("init")
	src := crashTree(t)
	cmd := c.Cmd("backup", "--path", src)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first pack is written: mid-run, however fast.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if packs, _ := filepath.Glob(filepath.Join(c.Repo, "data", "*", "*")); len(packs) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	code := clitest.ExitCode(err)
	if code != 130 {
		t.Fatalf("interrupted backup: exit %d (%v), want 130", code, err)
	}
	if msg := strings.TrimSpace(stderr.String()); !strings.HasPrefix(msg, "lifeboat: interrupted: the repository stays valid") || strings.Contains(msg, "context canceled") {
		t.Fatalf("interrupt message: %q", msg)
	}
	locks, _ := filepath.Glob(filepath.Join(c.Repo, "locks", "*"))
	if len(locks) != 0 {
		t.Fatalf("locks left: %v", locks)
	}
	c.OK("check", "--read-data")
	if out := c.OK("snapshots"); !strings.Contains(out, "\n0 snapshots") {
		t.Fatalf("interrupted backup saved a snapshot:\n%s", out)
	}
}

// Several backups into one repository at once lose nothing.
func TestConcurrentBackups(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	shared := treetest.RandomBytes(9, 6<<20) // the same content in every source
	var srcs []string
	for i := 0; i < 3; i++ {
		srcs = append(srcs, clitest.WriteTree(t, map[string][]byte{
			"shared.bin": shared,
			"own.bin":    treetest.RandomBytes(uint64(20+i), 3<<20),
		}))
	}
	var wg sync.WaitGroup
	results := make([]clitest.Result, len(srcs))
	for i, src := range srcs {
		wg.Add(1)
		go func(i int, src string) {
			defer wg.Done()
			results[i] = c.Run("backup", "--path", src, "--host", fmt.Sprintf("host%d", i))
		}(i, src)
	}
	wg.Wait()
	for i, r := range results {
		if r.Code != 0 {
			t.Fatalf("backup %d: exit %d: %s", i, r.Code, r.Stderr)
		}
	}
	c.OK("check", "--read-data")
	for i, src := range srcs {
		dst := t.TempDir()
		c.OK("restore", "latest", "--host", fmt.Sprintf("host%d", i), "--target", dst)
		if err := treetest.Compare(src, dst); err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
	}
}

// testSeed is a random seed for a test, logged so that a failure can be
// replayed with LIFEBOAT_TEST_SEED.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LIFEBOAT_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LIFEBOAT_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with LIFEBOAT_TEST_SEED=%d)", seed, seed)
	return seed
}
