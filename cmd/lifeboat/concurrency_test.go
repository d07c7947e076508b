package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
)

// Backups and prunes at once on one repository: neither waits for the
// other or fails, in every round. Prunes delete what earlier rounds marked
// (--grace 1s), beside the backups. Afterwards check --read-data passes and
// every host's snapshot restores.
func TestBackupsAndPruneAtOnce(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init", "--pack-size", "1")
	var srcs []string
	for i := 0; i < 3; i++ {
		srcs = append(srcs, clitest.WriteTree(t, map[string][]byte{
			"shared.bin": treetest.RandomBytes(77, 2<<20),
			"own.bin":    treetest.RandomBytes(uint64(i), 3<<20),
		}))
	}
	deleted := 0
	for round := 0; round < 4; round++ {
		var wg sync.WaitGroup
		runs := make([]clitest.Result, len(srcs)+1)
		for i, src := range srcs {
			wg.Add(1)
			go func(i int, src string) {
				defer wg.Done()
				if err := os.WriteFile(filepath.Join(src, "own.bin"), treetest.RandomBytes(uint64(100*round+i), 3<<20), 0o644); err != nil {
					t.Error(err)
				}
				runs[i] = c.Run("backup", "--path", src, "--host", fmt.Sprintf("h%d", i))
			}(i, src)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[len(srcs)] = c.Run("prune", "--grace", "1s", "--json")
		}()
		wg.Wait()
		for i, r := range runs {
			if r.Code != 0 {
				t.Fatalf("round %d, run %d (the last is the prune): exit %d\n%s", round, i, r.Code, r.Stderr)
			}
		}
		deleted += clitest.LastMessage[results.DryRun[prune.Report]](t, runs[len(srcs)].Stdout, "prune").Report.PacksDeleted
		c.OK("forget", "--keep-last", "1") // per host: each host keeps its newest
		time.Sleep(time.Second)            // the marks' grace period is wall-clock time
	}
	if deleted == 0 {
		t.Fatal("no prune beside the backups deleted a pack, so the test tests no sweep")
	}
	c.OK("prune", "--grace", "1s")
	c.OK("check", "--read-data")
	snaps := clitest.LastMessage[results.Snapshots](t, c.OK("snapshots", "--json"), "snapshots").Snapshots
	if len(snaps) != len(srcs) {
		t.Fatalf("%d snapshots, want the last of each of %d hosts", len(snaps), len(srcs))
	}
	for _, s := range snaps {
		id := s.ID
		if out := c.OK("restore", id[:12], "--target", t.TempDir(), "--verify"); !strings.Contains(out, "verified") {
			t.Fatalf("restore %s: %s", id, out)
		}
	}
}
