package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		s := lastOfType(t, jsonLines(t, c.ok("backup", "--path", src, "--json")), "summary")
		ids = append(ids, s["snapshot_id"].(string))
	}
	c.fails(2, "forgetting everything is refused", "forget")
	c.fails(2, "not both", "forget", ids[0][:8], "--keep-last", "1")

	dry := jsonLines(t, c.ok("forget", "--keep-last", "2", "--dry-run", "--json"))
	if n := len(lastOfType(t, dry, "forget")["removed"].([]any)); n != 3 {
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
