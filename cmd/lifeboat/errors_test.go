package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

func TestClearErrors(t *testing.T) {
	c := lb.CLI(t)
	c.Fails(10, "no repository found", "snapshots")
	c.OK("init")
	c.Fails(1, "a repository already exists", "init")

	wrong := *c
	wrong.Env = []string{"LIFEBOAT_PASSWORD=wrong"}
	wrong.Fails(12, "wrong password", "snapshots")

	nopw := *c
	nopw.Env = nil
	nopw.Fails(1, "no password", "snapshots")

	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nopw.OK("snapshots", "--password-file", pwFile)

	c.Fails(1, "no matching snapshot", "restore", "latest", "--target", t.TempDir())
	c.Fails(2, "unknown flag", "backup", "--nope")
	c.Fails(2, "--path", "backup")
	c.Fails(1, "no such file or directory", "backup", "--path", "/does/not/exist")
	// Contradictory or malformed selectors and names: usage errors that
	// name the mistake, before any engine is asked (it used to act on
	// --all --dangling as --all, stopping every labelled container).
	for _, bad := range []struct {
		want string
		args []string
	}{
		{"--all selects every volume", []string{"backup", "--all", "--dangling"}},
		{"--all selects every volume", []string{"backup", "--all", "pgdata"}},
		{`label "=foo"`, []string{"backup", "--label", "=foo"}},
		{`label "a b"`, []string{"backup", "--label", "a b"}},
		{`volume name "../etc"`, []string{"backup", "../etc"}},
		{`volume name "../x"`, []string{"restore", "latest", "--to-volume", "../x"}},
		{`volume name "a/b"`, []string{"migrate", "a/b", "--to", "tcp://127.0.0.1:1"}},
		{"not ftp://", []string{"migrate", "pgdata", "--to", "ftp://x"}},
		{`label "=x"`, []string{"volume", "prune", "--filter", "label==x"}},
		{"a tag cannot be empty", []string{"backup", "--path", t.TempDir(), "--tag", ""}},
		{"no spaces around it", []string{"backup", "--path", t.TempDir(), "--tag", " nightly"}},
	} {
		c.Fails(2, bad.want, bad.args...)
	}

	// Errors are JSON too, with the exit code.
	wr := wrong.Run("snapshots", "--json")
	if f := clitest.LastMessage[messages.Failure](t, wr.Stdout, "error"); f.ExitCode != 12 || f.Message == "" {
		t.Fatalf("JSON error: %q", wr.Stdout)
	}

	noRepo := lb.CLIOn(t, "", c.Env)
	noRepo.Fails(2, "no repository given", "snapshots")

	// Foreign repositories are no repository (exit 10), not a wrong
	// password (exit 12): restic's layout (the same folders, its own key
	// files) is named, and a directory that only has a config file.
	restic := t.TempDir()
	for name, data := range map[string]string{
		"config":    "\x01\x02sealed by restic",
		"keys/5f0c": `{"created":"2026-12-07T13:41:05Z","username":"root","hostname":"vm","kdf":"scrypt","N":32768,"r":8,"p":6,"salt":"c2FsdA==","data":"ZGF0YQ=="}`,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(restic, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restic, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.Fails(10, "restic repository", "snapshots", "--repo", restic)
	onlyConfig := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyConfig, "config"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Fails(10, "no keys/", "snapshots", "--repo", onlyConfig)
}

func TestKeyManagement(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	second := *c
	second.Env = append(second.Env, "LIFEBOAT_NEW_PASSWORD=second pw")
	c.OK("--json", "key", "list")
	id := clitest.LastMessage[results.Key](t, second.OK("key", "add", "--json"), "key_added").ID
	other := lb.CLIOn(t, c.Repo, []string{"LIFEBOAT_PASSWORD=second pw"})
	other.OK("snapshots")
	keys := clitest.LastMessage[results.Keys](t, c.OK("key", "list", "--json"), "keys").Keys
	if len(keys) != 2 {
		t.Fatalf("%d keys", len(keys))
	}
	// A prefix too short to be sure of (it matched any key) removes nothing.
	for _, short := range []string{"", id[:1], id[:3]} {
		c.Fails(1, "at least 4 hex digits", "key", "remove", short)
	}
	c.Fails(1, "no key with id", "key", "remove", "0000000000")
	c.OK("key", "remove", id[:8])
	other.Fails(12, "wrong password", "snapshots")
	// passwd replaces the key in use.
	third := *c
	third.Env = append(third.Env, "LIFEBOAT_NEW_PASSWORD=third pw")
	third.OK("key", "passwd")
	c.Fails(12, "wrong password", "snapshots")
	(lb.CLIOn(t, c.Repo, []string{"LIFEBOAT_PASSWORD=third pw"})).OK("snapshots")
}

// Damage is found, named, and traced to the snapshots and files it affects.
func TestCheckFindsDamage(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{
		"one.bin": treetest.RandomBytes(1, 3<<20),
		"two.bin": treetest.RandomBytes(2, 100),
	})
	c.OK("backup", "--path", src)
	c.OK("check", "--read-data")

	packs, _ := filepath.Glob(filepath.Join(c.Repo, "data", "*", "*"))
	if len(packs) < 2 {
		t.Fatalf("want data and tree packs, got %v", packs)
	}
	// Flip a byte in the middle of the largest pack (the data pack).
	big := packs[0]
	for _, p := range packs {
		if fi, _ := os.Stat(p); fi.Size() > 1<<20 {
			big = p
		}
	}
	b, _ := os.ReadFile(big)
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(big, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c.OK("check") // structure is intact
	r := c.Fails(4, filepath.Base(big), "check", "--read-data")
	if !strings.Contains(r.Stdout, "/one.bin") || !strings.Contains(r.Stdout, "is damaged") {
		t.Fatalf("check does not name the affected file:\n%s", r.Stdout)
	}
	// A restore leaves the damaged file out, names it, exits 3; the
	// intact one restores.
	r = c.Fails(3, "check --read-data", "restore", "latest", "--target", t.TempDir())
	if !strings.Contains(r.Stdout, "/one.bin:") || !strings.Contains(r.Stdout, "damaged object") {
		t.Fatalf("restore does not name the damaged file:\n%s", r.Stdout)
	}
	c.OK("restore", "latest", "--target", t.TempDir(), "--include", "two.bin")

	// A missing pack is found without reading data.
	if err := os.Remove(big); err != nil {
		t.Fatal(err)
	}
	r = c.Fails(4, "pack is missing", "check")
	if !strings.Contains(r.Stdout, "/one.bin") {
		t.Fatalf("missing pack: affected file not named:\n%s", r.Stdout)
	}
}

// A restore that runs out of space stops with a clear error and leaves the
// empty target as it was: nothing is published before all of it is done.
func TestRestoreDiskFull(t *testing.T) {
	treetest.RequireRoot(t)
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"a-small": []byte("fits"), "b-big.bin": treetest.RandomBytes(3, 4<<20)})
	c.OK("backup", "--path", src)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	c.Fails(1, "no space left on device", "restore", "latest", "--target", mnt)
	if entries, _ := os.ReadDir(mnt); len(entries) != 0 {
		t.Fatalf("failed restore left %v", entries)
	}
}

// Files that cannot be read are reported and left out; the snapshot is
// saved, marked incomplete, and the exit code is 3.
func TestUnreadableFileIncomplete(t *testing.T) {
	treetest.RequireRoot(t)
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"public": []byte("ok"), "secret": []byte("root only")})
	if err := os.Chmod(filepath.Join(src, "secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Run as nobody, so that the root-only file is unreadable.
	for _, p := range []string{filepath.Dir(c.Repo), c.Repo, filepath.Dir(src), src} {
		_ = os.Chmod(p, 0o777)
	}
	if err := filepath.Walk(c.Repo, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			_ = os.Chown(p, 65534, 65534)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cmd := c.Cmd("backup", "--path", src, "--json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	r := c.RunCmd(cmd)
	if r.Code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if w := clitest.LastMessage[messages.Warning](t, r.Stdout, "warning"); !strings.Contains(w.Path, "secret") {
		t.Fatalf("warning: %+v", w)
	}
	s := clitest.LastMessage[messages.BackupSummary](t, r.Stdout, "summary")
	if !s.Incomplete {
		t.Fatalf("summary: %v", s)
	}
	out := c.OK("snapshots")
	if !strings.Contains(out, "(incomplete)") {
		t.Fatalf("snapshots does not show incomplete:\n%s", out)
	}
	ls := c.OK("ls", "latest")
	if !strings.Contains(ls, "/public") || strings.Contains(ls, "/secret") {
		t.Fatalf("ls: %s", ls)
	}
}

// init --pack-size sets the size at which packs are cut.
func TestInitPackSize(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init", "--pack-size", "1")
	// Files below the minimum chunk size are one chunk each, whatever the
	// repository's random chunker polynomial: 60 of 200 kB fill at least
	// ten 1 MiB packs (a large file could be cut into a few large chunks).
	files := map[string][]byte{}
	for i := 0; i < 60; i++ {
		files[fmt.Sprintf("f%02d", i)] = treetest.RandomBytes(uint64(i), 200_000)
	}
	c.OK("backup", "--path", clitest.WriteTree(t, files))
	packs, _ := filepath.Glob(filepath.Join(c.Repo, "data", "*", "*"))
	if len(packs) < 10 {
		t.Fatalf("%d packs for 12 MB with 1 MiB packs", len(packs))
	}
	c.Fails(2, "pack-size must be between", "init", "--pack-size", "500") // a usage error, as every bad value
	c.OK("check", "--read-data")
}

// No value a user can type widens a deletion or is silently replaced:
// negative keep values, out-of-range shares and sizes, misspelled keys.
func TestOutOfRangeValuesRefused(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"f": []byte("x")})
	c.OK("backup", "--path", src)
	c.OK("backup", "--path", src)
	for _, args := range [][]string{
		{"forget", "--keep-last", "-1"},
		{"forget", "--keep-daily", "-5"},
		{"forget", "--keep-within", "-48h"},
		{"forget", "--keep-last", "1", "--keep-pre-prune", "-1h"},
	} {
		c.Fails(2, "must be 0 or more", args...)
	}
	if n := len(c.SnapshotIDs()); n != 2 {
		t.Fatalf("%d snapshots after refused forgets, want 2", n)
	}
	// A policy that keeps nothing of a group still keeps its newest.
	c.OK("forget", "--keep-tag", "no-such-tag")
	if n := len(c.SnapshotIDs()); n != 1 {
		t.Fatalf("%d snapshots after forget --keep-tag no-such-tag, want the newest", n)
	}
	for _, v := range []string{"5", "-1", "0", "NaN"} {
		c.Fails(2, "--repack-unused must be more than 0", "prune", "--repack-unused", v)
	}
	other := lb.CLI(t)
	other.Fails(2, "--pack-size must be between 1 and 128", "init", "--pack-size", "0")
	other.Fails(2, "pack-size must be between 1 and 128", "init", "--pack-size", "200")

	cfg := filepath.Join(t.TempDir(), "lifeboat.yml")
	if err := os.WriteFile(cfg, []byte("hots: web1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Fails(2, `unknown key "hots" at the top level (did you mean "host"?)`, "snapshots", "--config", cfg)
}

// Small things an operator reads: the new password's own variables, a
// prune with nothing to do says so, counts are singular or plural.
func TestMessagesSayWhatHappened(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	r := c.Fails(1, "LIFEBOAT_NEW_PASSWORD", "key", "add")
	if !strings.Contains(r.Stderr, "--new-password-file") || strings.Contains(r.Stderr, "LIFEBOAT_PASSWORD_FILE") {
		t.Fatalf("key add without a new password: %q", r.Stderr)
	}
	c.Fails(1, "LIFEBOAT_NEW_PASSWORD", "key", "passwd")
	src := clitest.WriteTree(t, map[string][]byte{"f": []byte("one")})
	c.OK("backup", "--path", src)
	if err := os.WriteFile(filepath.Join(src, "f"), treetest.RandomBytes(3, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c.OK("backup", "--path", src)
	ids := c.SnapshotIDs()
	c.OK("forget", ids[0][:8])
	first := clitest.LastMessage[results.DryRun[prune.Report]](t, c.OK("prune", "--json"), "prune").Report
	second := clitest.LastMessage[results.DryRun[prune.Report]](t, c.OK("prune", "--json"), "prune").Report
	if first.IndexFiles == 0 {
		t.Fatalf("the first prune replaced no index file: %+v", first)
	}
	if second.IndexFiles != 0 || second.PacksDeleted != 0 {
		t.Fatalf("a prune with nothing to do reports work: %+v", second)
	}
	if out := c.OK("snapshots"); !strings.Contains(out, "\n1 snapshot\n") {
		t.Fatalf("snapshots count: %q", out)
	}
}

// Each documented exit code comes from its kind of error, wrapped as the
// commands wrap them.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{fmt.Errorf("3 objects could not be read: %w", errUnreadable), exitUnreadable},
		{fmt.Errorf("2 problems found: %w", errDamage), exitDamage},
		{fmt.Errorf("snapshot saved: %w", snapshot.ErrIncomplete), exitIncomplete},
		{usageError{errors.New("bad flag")}, exitUsage},
		{fmt.Errorf("x: %w", context.Canceled), exitInterrupted},
		{fmt.Errorf("x: %w", repository.ErrLocked), exitLocked},
		{&repository.LockError{Err: fmt.Errorf("x: %w", repository.ErrLocked)}, exitLocked},
		{errors.New("anything else"), exitError},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// A backup never stores the repository into itself: a repository inside
// the path backed up is left out with a warning (it used to grow with
// every run), and a path inside the repository is a usage error.
func TestRepositoryNeverBackedUpIntoItself(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	parent := filepath.Dir(c.Repo)
	if err := os.WriteFile(filepath.Join(parent, "notes"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := c.Run("backup", "--path", parent)
	if r.Code != 0 || !strings.Contains(r.Stderr, "repository lies inside the path backed up") {
		t.Fatalf("backup of the repository's parent: exit %d\n%s", r.Code, r.Stderr)
	}
	listing := c.OK("ls", "latest")
	if !strings.Contains(listing, "/notes") || strings.Contains(listing, "/repo") {
		t.Fatalf("the snapshot lists:\n%s", listing)
	}
	c.Fails(2, "inside it", "backup", "--path", filepath.Join(c.Repo, "data"))
	c.Fails(2, "is the repository", "backup", "--path", c.Repo)
}
