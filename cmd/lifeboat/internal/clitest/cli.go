// Package clitest runs the lifeboat executable the way a user does, for
// the end-to-end tests of cmd/lifeboat and of the packages its slow tests
// are split into: a binary built once per test package, a CLI with a
// repository, password and cache of the test's own, decoding of --json
// output into the types lifeboat encodes it from, and the Docker fixtures
// those tests share (docker.go).
//
// It is for tests only: nothing but tests may import it.
package clitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
)

// Lifeboat is a lifeboat executable built for one test package.
type Lifeboat struct {
	// Path is the executable.
	Path string
	// Version is the version it was built with. It names the package that
	// built it, so the sidecar images of test packages running at the same
	// time on one engine differ and one package's cleanup never removes
	// another's image.
	Version string
	dir     string
}

// Build builds lifeboat, static as released (the same binary runs as the
// Docker sidecar), with the version 0.1.0-test-<tag>.
func Build(tag string) (*Lifeboat, error) {
	dir, err := os.MkdirTemp("", "lifeboat-cli-")
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(dir, 0o755) // tests also run it as an unprivileged user
	lb := &Lifeboat{Path: filepath.Join(dir, "lifeboat"), Version: "0.1.0-test-" + tag, dir: dir}
	build := exec.Command("go", "build", "-o", lb.Path, "-ldflags", "-X main.version="+lb.Version,
		"github.com/lifeboat-backup/lifeboat/cmd/lifeboat")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("build lifeboat: %v\n%s", err, out)
	}
	return lb, nil
}

// Main is a test package's TestMain: it builds lifeboat, hands it to set,
// runs the tests and removes the executable.
func Main(m *testing.M, tag string, set func(*Lifeboat)) {
	lb, err := Build(tag)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	set(lb)
	code := m.Run()
	os.RemoveAll(lb.dir)
	os.Exit(code)
}

// CLI runs lifeboat against one repository with a fixed password.
type CLI struct {
	T *testing.T
	// Repo is LIFEBOAT_REPOSITORY of every run.
	Repo string
	// Env is added to the environment of every run.
	Env []string
	// Cache is the cache directory of its runs (a new temporary one if
	// empty), so that no test writes into the user's cache.
	Cache string
	lb    *Lifeboat
}

// CLI is a CLI for a new repository in a temporary directory of t.
func (lb *Lifeboat) CLI(t *testing.T) *CLI {
	return &CLI{T: t, Repo: filepath.Join(t.TempDir(), "repo"), Env: []string{"LIFEBOAT_PASSWORD=correct horse"}, lb: lb}
}

// Result is what a run of lifeboat did.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Cmd is the command that runs lifeboat with args, not started.
func (c *CLI) Cmd(args ...string) *exec.Cmd {
	if c.Cache == "" {
		c.Cache = c.T.TempDir()
	}
	cmd := exec.Command(c.lb.Path, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LIFEBOAT_REPOSITORY=" + c.Repo,
		"LIFEBOAT_CACHE_DIR=" + c.Cache}, c.Env...)
	return cmd
}

// Run runs lifeboat with args.
func (c *CLI) Run(args ...string) Result {
	c.T.Helper()
	return c.RunCmd(c.Cmd(args...))
}

// RunCmd runs cmd, one of Cmd's, and fails the test if it cannot start.
func (c *CLI) RunCmd(cmd *exec.Cmd) Result {
	c.T.Helper()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.T.Fatalf("run %v: %v", cmd.Args, err)
	}
	return Result{Code: code, Stdout: so.String(), Stderr: se.String()}
}

// OK runs a command that must succeed and returns its standard output.
func (c *CLI) OK(args ...string) string {
	c.T.Helper()
	r := c.Run(args...)
	if r.Code != 0 {
		c.T.Fatalf("lifeboat %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// Fails runs a command that must exit with code and mention want, with an
// error of one line.
func (c *CLI) Fails(code int, want string, args ...string) Result {
	c.T.Helper()
	r := c.Run(args...)
	if r.Code != code || !strings.Contains(r.Stderr+r.Stdout, want) {
		c.T.Fatalf("lifeboat %s: exit %d (want %d), output lacks %q\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), r.Code, code, want, r.Stdout, r.Stderr)
	}
	if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); r.Stderr != "" && n > 0 && !strings.Contains(r.Stderr, "warning") {
		c.T.Fatalf("error is not one line: %q", r.Stderr)
	}
	return r
}

// SnapshotIDs lists the snapshots as `snapshots --json` shows them.
func (c *CLI) SnapshotIDs() []string {
	c.T.Helper()
	var ids []string
	for _, s := range LastMessage[results.Snapshots](c.T, c.OK("snapshots", "--json"), "snapshots").Snapshots {
		ids = append(ids, s.ID)
	}
	return ids
}

// Messages decodes every --json message of type typ in out into a T, the
// type lifeboat encodes it from (cmd/lifeboat/internal/results,
// sidecar/protocol), after checking that every line of out is a message.
func Messages[T any](t *testing.T, out, typ string) []T {
	t.Helper()
	var all []T
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &head); err != nil || head.Type == "" {
			t.Fatalf("not a --json message: %q (%v)", line, err)
		}
		if head.Type != typ {
			continue
		}
		var v T
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s message %q: %v", typ, line, err)
		}
		all = append(all, v)
	}
	return all
}

// LastMessage is the last of Messages.
func LastMessage[T any](t *testing.T, out, typ string) T {
	t.Helper()
	all := Messages[T](t, out, typ)
	if len(all) == 0 {
		t.Fatalf("no %s message in:\n%s", typ, out)
	}
	return all[len(all)-1]
}

// DecodeLast decodes the last --json message of type typ in out into v,
// for a goroutine other than the test's, which must not stop the test: it
// returns what went wrong (the test's own goroutine uses LastMessage).
func DecodeLast(out, typ string, v any) error {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(lines[i]), &head) == nil && head.Type == typ {
			if err := json.Unmarshal([]byte(lines[i]), v); err != nil {
				return fmt.Errorf("%s message %q: %w", typ, lines[i], err)
			}
			return nil
		}
	}
	return fmt.Errorf("no %s message in:\n%s", typ, out)
}

// ExitCode is the exit code of a command that ended with err, or minus
// the signal that killed it.
func ExitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 0
}

// RunPeak runs cmd under GNU time and returns its output and its peak
// resident memory. The kernel counts into a child's peak the memory of the
// process it was forked from, and a test process is large (the race
// detector): GNU time, forked from here, forks lifeboat from itself.
func RunPeak(t *testing.T, cmd *exec.Cmd) ([]byte, int64, error) {
	t.Helper()
	gnuTime := "/usr/bin/time"
	if _, err := os.Stat(gnuTime); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("GNU time is needed (.ci/run installs it): %v", err)
		}
		t.Skip("GNU time (/usr/bin/time) is not installed")
	}
	report := filepath.Join(t.TempDir(), "time")
	cmd.Args = append([]string{gnuTime, "-f", "%M", "-o", report}, cmd.Args...)
	cmd.Path = gnuTime
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("GNU time's report: %v", rerr)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	kib, perr := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if perr != nil {
		t.Fatalf("GNU time's report %q: %v", b, perr)
	}
	return out, kib << 10, err
}

// CLIOn is a CLI for the repository at repo (none if empty), with env
// added to the environment of every run.
func (lb *Lifeboat) CLIOn(t *testing.T, repo string, env []string) *CLI {
	return &CLI{T: t, Repo: repo, Env: env, lb: lb}
}
