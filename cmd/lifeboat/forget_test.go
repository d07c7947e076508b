package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
)

func TestForget(t *testing.T) {
	c := newCLI(t)
	c.ok("init")
	src := writeTree(t, map[string][]byte{"f": []byte("0")})
	var ids []string
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(filepath.Join(src, "f"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, lastMessage[protocol.BackupSummary](t, c.ok("backup", "--path", src, "--json"), "summary").SnapshotID)
	}
	c.fails(2, "forgetting everything is refused", "forget")
	c.fails(2, "not both", "forget", ids[0][:8], "--keep-last", "1")

	dry := lastMessage[forgetResult](t, c.ok("forget", "--keep-last", "2", "--dry-run", "--json"), "forget")
	if n := len(dry.Removed); n != 3 || !dry.DryRun {
		t.Fatalf("dry run would remove %d, want 3", n)
	}
	if out := c.ok("snapshots"); !strings.Contains(out, "\n5 snapshots") {
		t.Fatalf("dry run removed snapshots:\n%s", out)
	}
	out := c.ok("forget", "--keep-last", "2")
	if !strings.Contains(out, "keep   (last)") || !strings.Contains(out, "removed 3 snapshots") {
		t.Fatalf("forget output:\n%s", out)
	}
	c.ok("forget", ids[4][:8])
	if out := c.ok("snapshots"); !strings.Contains(out, "\n1 snapshot\n") || !strings.Contains(out, ids[3][:8]) {
		t.Fatalf("after forget:\n%s", out)
	}
	c.ok("check")
	c.ok("restore", "latest", "--target", t.TempDir())
}
