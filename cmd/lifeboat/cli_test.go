package main

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
)

// binary is the lifeboat executable built once for the CLI tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lifeboat-cli-")
	if err != nil {
		panic(err)
	}
	_ = os.Chmod(dir, 0o755) // tests also run it as an unprivileged user
	binary = filepath.Join(dir, "lifeboat")
	// Static, as released: the same binary runs as the Docker sidecar.
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs lifeboat against one repository with a fixed password.
type cli struct {
	t    *testing.T
	repo string
	env  []string
	// cache is the cache directory of its runs (a new temporary one if
	// empty), so that no test writes into the user's cache.
	cache string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, repo: filepath.Join(t.TempDir(), "repo"), env: []string{"LIFEBOAT_PASSWORD=correct horse"}}
}

type result struct {
	code           int
	stdout, stderr string
}

func (c *cli) cmd(args ...string) *exec.Cmd {
	if c.cache == "" {
		c.cache = c.t.TempDir()
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LIFEBOAT_REPOSITORY=" + c.repo,
		"LIFEBOAT_CACHE_DIR=" + c.cache}, c.env...)
	return cmd
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runCmd(c.cmd(args...))
}

func (c *cli) runCmd(cmd *exec.Cmd) result {
	c.t.Helper()
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{code: code, stdout: so.String(), stderr: se.String()}
}

// ok runs a command that must succeed.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("lifeboat %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must exit with code and mention want.
func (c *cli) fails(code int, want string, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code || !strings.Contains(r.stderr+r.stdout, want) {
		c.t.Fatalf("lifeboat %s: exit %d (want %d), output lacks %q\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), r.code, code, want, r.stdout, r.stderr)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); r.stderr != "" && n > 0 && !strings.Contains(r.stderr, "warning") {
		c.t.Fatalf("error is not one line: %q", r.stderr)
	}
	return r
}

// messages decodes every --json message of type typ in out into a T, the
// type lifeboat encodes it from (results.go, sidecar/protocol), after
// checking that every line of out is a message.
func messages[T any](t *testing.T, out, typ string) []T {
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

// lastMessage is the last of messages.
func lastMessage[T any](t *testing.T, out, typ string) T {
	t.Helper()
	all := messages[T](t, out, typ)
	if len(all) == 0 {
		t.Fatalf("no %s message in:\n%s", typ, out)
	}
	return all[len(all)-1]
}

func exitCodeOf(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 0
}

// lastJSON decodes the last --json message of type typ in out into v.
func lastJSON(t *testing.T, out, typ string, v any) {
	t.Helper()
	if err := decodeLast(out, typ, v); err != nil {
		t.Fatal(err)
	}
}

// decodeLast is lastJSON for a goroutine other than the test's, which
// must not stop the test: it returns what went wrong.
func decodeLast(out, typ string, v any) error {
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

// runPeak runs cmd under GNU time and returns its output and its peak
// resident memory. The kernel counts into a child's peak the memory of the
// process it was forked from, and this test process is large (the race
// detector): GNU time, forked from here, forks lifeboat from itself.
func runPeak(t *testing.T, cmd *exec.Cmd) ([]byte, int64, error) {
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
