package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/messages"
)

// corrupt flips a byte in the middle of a file of the repository.
func corrupt(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// One damaged index file or snapshot file: every command reports it and
// carries on with the rest; check points at the repair; repair index and
// forget mend it; prune never deletes the data it hid.
func TestDamagedObjectsCLI(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	a := clitest.WriteTree(t, map[string][]byte{"a1": []byte(strings.Repeat("first tree ", 1000))})
	b := clitest.WriteTree(t, map[string][]byte{"b1": []byte(strings.Repeat("second tree ", 1000))})
	c.OK("backup", "--path", a)
	firstIndex := glob(t, filepath.Join(c.Repo, "index", "*"))
	c.OK("backup", "--path", b)
	ids := c.SnapshotIDs()
	if len(firstIndex) != 1 || len(ids) != 2 {
		t.Fatalf("%d index files after the first backup, %d snapshots", len(firstIndex), len(ids))
	}
	idA, idB := ids[0], ids[1]

	corrupt(t, firstIndex[0])
	r := c.Run("restore", idB[:8], "--target", t.TempDir())
	if r.Code != 0 || !strings.Contains(r.Stderr, "damaged") || !strings.Contains(r.Stderr, "repair index") {
		t.Fatalf("restore beside a damaged index file: exit %d\n%s", r.Code, r.Stderr)
	}
	c.Fails(1, "not in index", "restore", idA[:8], "--target", t.TempDir())
	c.Fails(4, "repair index", "check")
	r = c.Run("backup", "--path", a)
	if r.Code != 0 || !strings.Contains(r.Stderr, "damaged") {
		t.Fatalf("backup beside a damaged index file: exit %d\n%s", r.Code, r.Stderr)
	}
	c.OK("repair", "index")
	c.OK("check", "--read-data")
	c.OK("restore", idA[:8], "--target", t.TempDir())

	// A damaged snapshot file.
	corrupt(t, filepath.Join(c.Repo, "snapshots", idB))
	r = c.Run("snapshots", "--json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"warning"`) || !strings.Contains(r.Stdout, "forget "+idB[:8]) {
		t.Fatalf("snapshots beside a damaged snapshot: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := c.SnapshotIDs(); len(got) != 2 || slices.Contains(got, idB) {
		t.Fatalf("snapshots listed %v: want the two others", got)
	}
	c.OK("backup", "--path", b)
	c.Fails(1, "could not be read", "prune")
	c.OK("forget", idB[:8])
	c.OK("prune")
	c.OK("check", "--read-data")
	if got := c.SnapshotIDs(); len(got) != 3 {
		t.Fatalf("%d snapshots after forgetting the damaged one, want 3", len(got))
	}
}

// A local repository whose pack directories cannot be written: the backup
// fails and saves no snapshot (it used to report "0 B stored" and exit 0).
func TestBackupFailsWhenPacksCannotBeWritten(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	data := filepath.Join(c.Repo, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 256; i++ { // a file where each pack directory would go
		if err := os.WriteFile(filepath.Join(data, fmt.Sprintf("%02x", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := clitest.WriteTree(t, map[string][]byte{"f": []byte(strings.Repeat("x", 100_000))})
	r := c.Fails(1, "save pack", "backup", "--path", src, "--json")
	if lines := strings.Split(strings.TrimSpace(r.Stdout), "\n"); len(lines) != 1 || clitest.LastMessage[messages.Failure](t, r.Stdout, "error").ExitCode != 1 {
		t.Fatalf("the failure is not one JSON error with its exit code: %q", r.Stdout)
	}
	if ids := c.SnapshotIDs(); len(ids) != 0 {
		t.Fatalf("snapshots %v saved by a failed backup", ids)
	}
}

// One flipped byte in a data pack costs one file: restore restores the
// others and exits 3 naming it; check names the repair; after repair packs
// the repaired snapshot is "latest"; after repair snapshots --forget check
// --read-data is clean; and the next backup stores the file again, so
// that every file restores equal to the source. On a local repository and
// on a real S3 server (versitygw, the pack damaged in its backend).
func TestDamagedPackRepairCLI(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		c := lb.CLI(t)
		damagedPackRepair(t, c, filepath.Join(c.Repo, "data"))
	})
	t.Run("s3", func(t *testing.T) {
		srv := testservers.StartS3(t)
		srv.Bucket(t, "lifeboat")
		c := lb.CLIOn(t, "s3://lifeboat/damaged", []string{"LIFEBOAT_PASSWORD=pw",
			"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey, "AWS_REGION=us-east-1",
			"LIFEBOAT_S3_ENDPOINT=" + srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"})
		damagedPackRepair(t, c, filepath.Join(srv.Dir, "lifeboat", "damaged", "data"))
	})
}

// damagedPackRepair runs the damage scenario on c's repository, whose
// packs are the files under dataDir.
func damagedPackRepair(t *testing.T, c *clitest.CLI, dataDir string) {
	c.OK("init")
	files := map[string][]byte{}
	for i := range 60 {
		files[fmt.Sprintf("f%02d", i)] = treetest.RandomBytes(uint64(i), 20000)
	}
	src := clitest.WriteTree(t, files)
	c.OK("backup", "--path", src)
	packs := glob(t, filepath.Join(dataDir, "*", "*"))
	if len(packs) == 0 {
		t.Fatalf("no packs under %s", dataDir)
	}
	largest := packs[0]
	for _, p := range packs {
		if clitest.Size(t, p) > clitest.Size(t, largest) {
			largest = p
		}
	}
	corrupt(t, largest)

	out := t.TempDir()
	r := c.Fails(3, "check --read-data", "restore", "latest", "--target", out)
	damaged := ""
	for name := range files {
		if strings.Contains(r.Stdout, "/"+name+":") {
			damaged = name
		}
	}
	if damaged == "" {
		t.Fatalf("restore names no damaged file:\n%s", r.Stdout)
	}
	restored := readTree(t, out)
	if len(restored) != len(files)-1 {
		t.Fatalf("restored %d files, want %d", len(restored), len(files)-1)
	}
	for name, data := range restored {
		if !bytes.Equal(data, files[name]) {
			t.Fatalf("%s restored with other content", name)
		}
	}

	r = c.Fails(4, "lifeboat repair packs "+filepath.Base(largest), "check", "--read-data")
	if !strings.Contains(r.Stdout, "/"+damaged) {
		t.Fatalf("check does not name %s:\n%s", damaged, r.Stdout)
	}
	c.OK("repair", "packs", filepath.Base(largest))
	aside := glob(t, filepath.Join(filepath.Dir(dataDir), "damaged", "*"))
	if len(aside) != 1 || filepath.Base(aside[0]) != filepath.Base(largest) {
		t.Fatalf("set aside %v, want the damaged pack", aside)
	}
	c.OK("repair", "snapshots")
	c.OK("restore", "latest", "--target", t.TempDir()) // the repaired copy, not the original
	c.OK("repair", "snapshots", "--forget")
	c.OK("check", "--read-data")

	c.OK("backup", "--path", src)
	c.OK("check", "--read-data")
	out = t.TempDir()
	c.OK("restore", "latest", "--target", out)
	restored = readTree(t, out)
	if len(restored) != len(files) || !bytes.Equal(restored[damaged], files[damaged]) {
		t.Fatalf("after a new backup: %d files restored, %s equal: %v", len(restored), damaged, bytes.Equal(restored[damaged], files[damaged]))
	}
}

// readTree reads every regular file directly in dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}
