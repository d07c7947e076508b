package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/messages"
)

func TestForget(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"f": []byte("0")})
	var ids []string
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(filepath.Join(src, "f"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, clitest.LastMessage[messages.BackupSummary](t, c.OK("backup", "--path", src, "--json"), "summary").SnapshotID)
	}
	c.Fails(2, "forgetting everything is refused", "forget")
	c.Fails(2, "not both", "forget", ids[0][:8], "--keep-last", "1")

	dry := clitest.LastMessage[results.Forget](t, c.OK("forget", "--keep-last", "2", "--dry-run", "--json"), "forget")
	if n := len(dry.Removed); n != 3 || !dry.DryRun {
		t.Fatalf("dry run would remove %d, want 3", n)
	}
	if out := c.OK("snapshots"); !strings.Contains(out, "\n5 snapshots") {
		t.Fatalf("dry run removed snapshots:\n%s", out)
	}
	out := c.OK("forget", "--keep-last", "2")
	if !strings.Contains(out, "keep   (last)") || !strings.Contains(out, "removed 3 snapshots") {
		t.Fatalf("forget output:\n%s", out)
	}
	c.OK("forget", ids[4][:8])
	if out := c.OK("snapshots"); !strings.Contains(out, "\n1 snapshot\n") || !strings.Contains(out, ids[3][:8]) {
		t.Fatalf("after forget:\n%s", out)
	}
	c.OK("check")
	c.OK("restore", "latest", "--target", t.TempDir())
}
