package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
)

// cloudRoundTrip runs init, two backups, check and restore against a
// repository in a real object store.
func cloudRoundTrip(t *testing.T, c *cli) {
	src := writeTree(t, map[string][]byte{
		"db/base.bin":  treetest.RandomBytes(11, 9<<20),
		"db/wal.log":   []byte(strings.Repeat("INSERT INTO t VALUES (1);\n", 20000)),
		"etc/app.conf": []byte("port = 8080\n"),
	})
	c.ok("init")
	c.ok("backup", "--path", src, "--tag", "cloud")
	if err := os.WriteFile(filepath.Join(src, "etc/app.conf"), []byte("port = 9090\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := lastMessage[protocol.BackupSummary](t, c.ok("backup", "--path", src, "--json"), "summary").Summary
	if sum.FilesUnchanged != 2 || sum.FilesChanged != 1 {
		t.Fatalf("incremental backup to the cloud: %v", sum)
	}
	if out := c.ok("check", "--read-data"); !strings.Contains(out, "no errors found") {
		t.Fatalf("check: %s", out)
	}
	dst := t.TempDir()
	c.ok("restore", "latest", "--target", dst, "--verify")
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatal(err)
	}
	c.fails(1, "already exists", "init")
}

func TestCLIOnS3(t *testing.T) {
	srv := testservers.StartS3(t)
	srv.Bucket(t, "lifeboat")
	base := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_REGION=us-east-1", "LIFEBOAT_S3_ENDPOINT=" + srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	c := &cli{t: t, repo: "s3://lifeboat/hosts/one", env: append([]string{"LIFEBOAT_PASSWORD=pw"}, base...)}
	cloudRoundTrip(t, c)
	// The runs kept copies of the snapshot and index files; with
	// --no-cache, a run reads them from the store and keeps none.
	for _, kind := range []string{"snapshots", "index"} {
		if n := countFiles(t, c.cache, kind); n == 0 {
			t.Fatalf("no cached %s files in %s", kind, c.cache)
		}
	}
	// check judges the store, not the copies: a tree pack damaged in the
	// store is found although the cache holds an intact copy of it.
	trees, _ := filepath.Glob(filepath.Join(c.cache, "*", "trees", "*"))
	if len(trees) == 0 {
		t.Fatalf("no cached tree packs in %s", c.cache)
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
	if r := c.run("check"); r.code != 4 {
		t.Fatalf("check of a store with a damaged tree pack (intact in the cache): exit %d, want 4\n%s%s", r.code, r.stdout, r.stderr)
	}
	if out := c.ok("ls", "latest"); !strings.Contains(out, "app.conf") { // reads use the authenticated copy
		t.Fatalf("ls from the cached trees:\n%s", out)
	}
	fresh := &cli{t: t, repo: c.repo, env: c.env}
	if out := fresh.ok("snapshots", "--no-cache"); !strings.Contains(out, "2 snapshots") {
		t.Fatalf("snapshots --no-cache:\n%s", out)
	}
	if n := countFiles(t, fresh.cache, "snapshots"); n != 0 {
		t.Fatalf("--no-cache kept %d files", n)
	}

	// Bad input: each a one-line error and a non-zero exit.
	bad := func(repo string, env ...string) *cli {
		return &cli{t: t, repo: repo, env: append(append([]string{"LIFEBOAT_PASSWORD=pw"}, base...), env...)}
	}
	bad("s3://no-such-bucket/x").fails(1, "does not exist", "snapshots")
	bad("s3://lifeboat/hosts/one", "AWS_SECRET_ACCESS_KEY=wrong").fails(1, "check the credentials", "snapshots")
	bad("s3://lifeboat/x", "LIFEBOAT_S3_ENDPOINT=http://127.0.0.1:1").fails(1, "connect", "snapshots")
	bad("s3://").fails(1, "missing or invalid bucket", "snapshots")
	bad("ftp://host/x").fails(1, "unknown scheme", "snapshots")
	bad("s3://lifeboat/empty").fails(10, "no repository found", "snapshots")

	// Credentials from a shared credentials file and a named profile, and a
	// storage class, as AWS users set them up.
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("[backup]\naws_access_key_id = "+srv.AccessKey+
		"\naws_secret_access_key = "+srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	profile := &cli{t: t, repo: "s3://lifeboat/hosts/one", env: []string{"LIFEBOAT_PASSWORD=pw",
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=" + creds,
		"LIFEBOAT_S3_ENDPOINT=" + srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true"}}
	profile.ok("snapshots", "--s3-profile", "backup")
	profile.ok("backup", "--s3-profile", "backup", "--s3-storage-class", "STANDARD", "--path", writeTree(t, map[string][]byte{"x": []byte("x")}))
	profile.fails(1, "profile", "snapshots", "--s3-profile", "missing")
}

func TestCLIOnGCS(t *testing.T) {
	srv := testservers.StartGCS(t)
	srv.Bucket(t, "lifeboat")
	c := &cli{t: t, repo: "gs://lifeboat/hosts/one", env: []string{"LIFEBOAT_PASSWORD=pw", "STORAGE_EMULATOR_HOST=" + srv.Host}}
	cloudRoundTrip(t, c)
	bad := &cli{t: t, repo: "gs://no-such-bucket", env: c.env}
	bad.fails(1, "does not exist", "snapshots")
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
