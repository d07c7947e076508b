package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
)

// Backups and prunes at once on one repository: a backup that finds the
// prune's lock exits 11 and is run again until it succeeds, so every round
// saves every host's backup; a prune either runs or exits 11. Afterwards
// check --read-data passes and every host's snapshot restores.
func TestBackupsAndPruneAtOnce(t *testing.T) {
	c := newCLI(t)
	c.ok("init", "--pack-size", "1")
	var srcs []string
	for i := 0; i < 3; i++ {
		srcs = append(srcs, writeTree(t, map[string][]byte{
			"shared.bin": treetest.RandomBytes(77, 2<<20),
			"own.bin":    treetest.RandomBytes(uint64(i), 3<<20),
		}))
	}
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		codes := make([]int, len(srcs)+1)
		for i, src := range srcs {
			wg.Add(1)
			go func(i int, src string) {
				defer wg.Done()
				for try := 0; try < 50; try++ {
					if codes[i] = c.run("backup", "--path", src, "--host", fmt.Sprintf("h%d", i)).code; codes[i] != 11 {
						return
					}
				}
			}(i, src)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[len(srcs)] = c.run("prune").code
		}()
		wg.Wait()
		for i, code := range codes[:len(srcs)] {
			if code != 0 {
				t.Fatalf("round %d, backup %d: exit %d", round, i, code)
			}
		}
		if code := codes[len(srcs)]; code != 0 && code != 11 {
			t.Fatalf("round %d, prune: exit %d", round, code)
		}
		c.ok("forget", "--keep-last", "1")
	}
	c.ok("prune")
	c.ok("check", "--read-data")
	snaps := lastOfType(t, jsonLines(t, c.ok("snapshots", "--json")), "snapshots")["snapshots"].([]any)
	if len(snaps) != len(srcs) {
		t.Fatalf("%d snapshots, want the last of each of %d hosts", len(snaps), len(srcs))
	}
	for _, s := range snaps {
		id := s.(map[string]any)["id"].(string)
		if out := c.ok("restore", id[:12], "--target", t.TempDir(), "--verify"); !strings.Contains(out, "verified") {
			t.Fatalf("restore %s: %s", id, out)
		}
	}
}
