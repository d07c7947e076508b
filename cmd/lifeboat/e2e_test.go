package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/messages"
)

// A tree with every kind of metadata survives backup and restore exactly;
// a second backup reads nothing; diff and ls see the changes.
func TestRoundTripAllMetadata(t *testing.T) {
	treetest.RequireRoot(t)
	c := lb.CLI(t)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	treetest.Build(t, src)

	init := clitest.LastMessage[results.Init](t, c.OK("init", "--json"), "init")
	if init.Version != 1 {
		t.Fatalf("init: %v", init)
	}
	first := clitest.LastMessage[messages.BackupSummary](t, c.OK("backup", "--path", src, "--tag", "one", "--json"), "summary")
	sum := first.Summary
	if sum.FilesNew < 10 || sum.Errors != 0 {
		t.Fatalf("first backup summary: %v", sum)
	}

	dst := filepath.Join(t.TempDir(), "dst")
	res := clitest.LastMessage[messages.RestoreSummary](t, c.OK("restore", "latest", "--target", dst, "--verify", "--json"), "summary")
	if res.Result.Verified < 10 {
		t.Fatalf("restore: %v", res)
	}
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatalf("restored tree differs:\n%v", err)
	}

	// Nothing changed: nothing is read, every file is reused.
	second := clitest.LastMessage[messages.BackupSummary](t, c.OK("backup", "--path", src, "--tag", "two", "--json"), "summary")
	s2 := second.Summary
	if s2.BytesRead != 0 || s2.FilesNew != 0 || s2.FilesChanged != 0 {
		t.Fatalf("unchanged backup read data: %v", s2)
	}
	if s2.BlobsAdded != 0 {
		t.Fatalf("unchanged backup added blobs: %v", s2)
	}

	// Change one file, add one, remove one: diff shows exactly that.
	if err := os.WriteFile(filepath.Join(src, "big/text.log"), []byte("rotated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "new.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(src, "empty")); err != nil {
		t.Fatal(err)
	}
	third := clitest.LastMessage[messages.BackupSummary](t, c.OK("backup", "--path", src, "--json"), "summary")
	s3 := third.Summary
	if s3.FilesChanged != 1 || s3.FilesNew != 1 {
		t.Fatalf("third backup: %v", s3)
	}
	id2, id3 := second.SnapshotID, third.SnapshotID
	diff := c.OK("diff", id2[:8], id3[:10])
	for _, want := range []string{"M  /big/text.log", "+  /new.txt", "-  /empty"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}

	snaps := clitest.LastMessage[results.Snapshots](t, c.OK("snapshots", "--json", "--tag", "one"), "snapshots")
	if n := len(snaps.Snapshots); n != 1 {
		t.Fatalf("snapshots --tag one: %d", n)
	}
	ls := c.OK("ls", "latest", "/deep")
	if !strings.Contains(ls, "/deep/a/b/c/d/leaf") || strings.Contains(ls, "hello.txt") {
		t.Fatalf("ls /deep:\n%s", ls)
	}
	nodes := clitest.Messages[nodeJSON](t, c.OK("ls", "--json", id2[:8], "/link-abs"), "node")
	if len(nodes) == 0 || nodes[0].LinkTarget != "/etc/passwd" {
		t.Fatalf("ls --json symlink: %+v", nodes)
	}
	if out := c.OK("check", "--read-data"); !strings.Contains(out, "no errors found") {
		t.Fatalf("check: %s", out)
	}
}

func TestRestoreIncludeExcludeAndOverwrite(t *testing.T) {
	c := lb.CLI(t)
	src := t.TempDir()
	for p, data := range map[string]string{"etc/a.conf": "a", "etc/b.txt": "b", "var/log/x.log": "x", "var/keep": "k"} {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.OK("init")
	c.OK("backup", "--path", src)
	dst := t.TempDir()
	c.OK("restore", "latest", "--target", dst, "--include", "/etc/*.conf", "--include", "/var", "--exclude", "*.log")
	var got []string
	_ = filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dst, p)
			got = append(got, rel)
		}
		return nil
	})
	if strings.Join(got, ",") != "etc/a.conf,var/keep" {
		t.Fatalf("restored %v", got)
	}
	// A non-empty target is refused without --overwrite.
	c.Fails(1, "not empty", "restore", "latest", "--target", dst)
	// never keeps a changed file, if-changed replaces it.
	if err := os.WriteFile(filepath.Join(dst, "var/keep"), []byte("local edit"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.OK("restore", "latest", "--target", dst, "--overwrite", "never")
	if b, _ := os.ReadFile(filepath.Join(dst, "var/keep")); string(b) != "local edit" {
		t.Fatalf("--overwrite never replaced a file: %q", b)
	}
	c.OK("restore", "latest", "--target", dst, "--overwrite", "if-changed")
	if b, _ := os.ReadFile(filepath.Join(dst, "var/keep")); string(b) != "k" {
		t.Fatalf("--overwrite if-changed kept a changed file: %q", b)
	}
	c.Fails(2, "--overwrite must be", "restore", "latest", "--target", dst, "--overwrite", "sometimes")
}
