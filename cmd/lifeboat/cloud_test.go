package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/messages"
)

// cloudRoundTrip runs init, two backups, check and restore against a
// repository in a real object store.
func cloudRoundTrip(t *testing.T, c *clitest.CLI) {
	src := clitest.WriteTree(t, map[string][]byte{
		"db/base.bin":  treetest.RandomBytes(11, 9<<20),
		"db/wal.log":   []byte(strings.Repeat("INSERT INTO t VALUES (1);\n", 20000)),
		"etc/app.conf": []byte("port = 8080\n"),
	})
	c.OK("init")
	c.OK("backup", "--path", src, "--tag", "cloud")
	if err := os.WriteFile(filepath.Join(src, "etc/app.conf"), []byte("port = 9090\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := clitest.LastMessage[messages.BackupSummary](t, c.OK("backup", "--path", src, "--json"), "summary").Summary
	if sum.FilesUnchanged != 2 || sum.FilesChanged != 1 {
		t.Fatalf("incremental backup to the cloud: %v", sum)
	}
	if out := c.OK("check", "--read-data"); !strings.Contains(out, "no errors found") {
		t.Fatalf("check: %s", out)
	}
	dst := t.TempDir()
	c.OK("restore", "latest", "--target", dst, "--verify")
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatal(err)
	}
	c.Fails(1, "already exists", "init")
}

func TestCLIOnS3(t *testing.T) {
	srv := testservers.StartS3(t)
	srv.Bucket(t, "lifeboat")
	base := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_REGION=us-east-1", "LIFEBOAT_S3_ENDPOINT=" + srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	c := lb.CLIOn(t, "s3://lifeboat/hosts/one", append([]string{"LIFEBOAT_PASSWORD=pw"}, base...))
	cloudRoundTrip(t, c)
	// The runs kept copies of the snapshot and index files; with
	// --no-cache, a run reads them from the store and keeps none.
	for _, kind := range []string{"snapshots", "index"} {
		if n := countFiles(t, c.Cache, kind); n == 0 {
			t.Fatalf("no cached %s files in %s", kind, c.Cache)
		}
	}
	// check judges the store, not the copies: a tree pack damaged in the
	// store is found although the cache holds an intact copy of it.
	trees, _ := filepath.Glob(filepath.Join(c.Cache, "*", "trees", "*"))
	if len(trees) == 0 {
		t.Fatalf("no cached tree packs in %s", c.Cache)
	}
	stored := filepath.Join(srv.Dir, "lifeboat", "hosts", "one", "data", filepath.Base(trees[0])[:2], filepath.Base(trees[0]))
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/4] ^= 1 // within the trees, before the pack's header
	if err := os.WriteFile(stored, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := c.Run("check"); r.Code != 4 {
		t.Fatalf("check of a store with a damaged tree pack (intact in the cache): exit %d, want 4\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if out := c.OK("ls", "latest"); !strings.Contains(out, "app.conf") { // reads use the authenticated copy
		t.Fatalf("ls from the cached trees:\n%s", out)
	}
	fresh := lb.CLIOn(t, c.Repo, c.Env)
	if out := fresh.OK("snapshots", "--no-cache"); !strings.Contains(out, "2 snapshots") {
		t.Fatalf("snapshots --no-cache:\n%s", out)
	}
	if n := countFiles(t, fresh.Cache, "snapshots"); n != 0 {
		t.Fatalf("--no-cache kept %d files", n)
	}

	// Bad input: each a one-line error and a non-zero exit.
	bad := func(repo string, env ...string) *clitest.CLI {
		return lb.CLIOn(t, repo, append(append([]string{"LIFEBOAT_PASSWORD=pw"}, base...), env...))
	}
	bad("s3://no-such-bucket/x").Fails(1, "does not exist", "snapshots")
	bad("s3://lifeboat/hosts/one", "AWS_SECRET_ACCESS_KEY=wrong").Fails(1, "check the credentials", "snapshots")
	bad("s3://lifeboat/x", "LIFEBOAT_S3_ENDPOINT=http://127.0.0.1:1").Fails(1, "connect", "snapshots")
	bad("s3://").Fails(1, "missing or invalid bucket", "snapshots")
	bad("ftp://host/x").Fails(1, "unknown scheme", "snapshots")
	bad("s3://lifeboat/empty").Fails(10, "no repository found", "snapshots")

	// Credentials from a shared credentials file and a named profile, and a
	// storage class, as AWS users set them up.
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[backup]\naws_access_key_id = "+srv.AccessKey+
		"\naws_secret_access_key = "+srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	profile := lb.CLIOn(t, "s3://lifeboat/hosts/one", []string{"LIFEBOAT_PASSWORD=pw",
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=" + creds,
		"LIFEBOAT_S3_ENDPOINT=" + srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true"})
	profile.OK("snapshots", "--s3-profile", "backup")
	profile.OK("backup", "--s3-profile", "backup", "--s3-storage-class", "STANDARD", "--path", clitest.WriteTree(t, map[string][]byte{"x": []byte("x")}))
	profile.Fails(1, "profile", "snapshots", "--s3-profile", "missing")
}

func TestCLIOnGCS(t *testing.T) {
	srv := testservers.StartGCS(t)
	srv.Bucket(t, "lifeboat")
	c := lb.CLIOn(t, "gs://lifeboat/hosts/one", []string{"LIFEBOAT_PASSWORD=pw", "STORAGE_EMULATOR_HOST=" + srv.Host})
	cloudRoundTrip(t, c)
	bad := lb.CLIOn(t, "gs://no-such-bucket", c.Env)
	bad.Fails(1, "does not exist", "snapshots")
}

// countFiles counts the files under dir in directories named kind.
func countFiles(t *testing.T, dir, kind string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && filepath.Base(filepath.Dir(p)) == kind {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
