package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tool is one program under test and how to drive it.
type tool struct {
	name    string
	bin     string
	env     []string
	version string
	init    []string
	backup  func(src string) []string
	restore func(dst string) []string
	// restored is where the data set lands below the restore target.
	restored func(dst, src string) string
}

// result is one measured run.
type result struct {
	seconds float64
	rssKiB  int64
	added   int64
}

const password = "bench password"

// resticVersion is the restic release the harness compares with, built
// from the Go module proxy; Debian's (older) restic is the fallback.
const resticVersion = "v0.18.1"

// exec runs the tool on the repository repo under /usr/bin/time, which
// reports the peak RSS of the tool alone (measured from this harness, a
// child's peak would include the harness's own memory, shared until exec).
func (t *tool) exec(repo string, args ...string) (result, error) {
	r, err := t.start(repo, args...)
	if err != nil {
		return result{}, err
	}
	return r.wait()
}

// running is a tool started by start.
type running struct {
	cmd    *exec.Cmd
	stats  string // where time writes the peak RSS
	stderr bytes.Buffer
	begun  time.Time
}

// start starts the tool as exec runs it, in a process group of its own
// (kill ends it with its time wrapper).
func (t *tool) start(repo string, args ...string) (*running, error) {
	stats, err := os.CreateTemp("", "bench-time-")
	if err != nil {
		return nil, err
	}
	stats.Close()
	r := &running{stats: stats.Name()}
	r.cmd = exec.Command(timeBin, append([]string{"-f", "%M", "-o", r.stats, t.bin}, args...)...)
	r.cmd.Env = append(os.Environ(), t.env...)
	r.cmd.Env = append(r.cmd.Env, "LIFEBOAT_REPOSITORY="+repo, "RESTIC_REPOSITORY="+repo)
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, &r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.begun = time.Now()
	if err := r.cmd.Start(); err != nil {
		os.Remove(r.stats)
		return nil, err
	}
	return r, nil
}

// wait waits for the tool's end and returns its time and peak RSS.
func (r *running) wait() (result, error) {
	defer os.Remove(r.stats)
	err := r.cmd.Wait()
	res := result{seconds: time.Since(r.begun).Seconds()}
	if b, rerr := os.ReadFile(r.stats); rerr == nil {
		lines := strings.Fields(string(b))
		if len(lines) > 0 {
			res.rssKiB, _ = strconv.ParseInt(lines[len(lines)-1], 10, 64)
		}
	}
	if err != nil {
		return res, fmt.Errorf("%v: %s", err, strings.TrimSpace(r.stderr.String()))
	}
	return res, nil
}

// kill ends the tool and its wrapper at once (SIGKILL: nothing is
// cleaned up, as when a machine loses power); wait still reaps them.
func (r *running) kill() { _ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL) }

const timeBin = "/usr/bin/time"

func versionOf(t *tool) string {
	out, err := exec.Command(t.bin, "version").CombinedOutput()
	if err != nil {
		out, _ = exec.Command(t.bin, "--version").CombinedOutput()
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// ensureTools returns restic's path: restic resticVersion, built into
// work from the Go module proxy (pinned), else Debian's restic; and it
// installs GNU time when it is missing.
func ensureTools(work string) (string, error) {
	var missing []string
	if _, err := os.Stat(timeBin); err != nil {
		missing = append(missing, "time")
	}
	gobin := filepath.Join(work, "gobin")
	restic := filepath.Join(gobin, "restic")
	install := exec.Command("go", "install", "github.com/restic/restic/cmd/restic@"+resticVersion)
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	fmt.Printf("building restic %s\n", resticVersion)
	if out, err := install.CombinedOutput(); err != nil {
		fmt.Printf("building restic %s failed (%v), falling back to Debian's restic:\n%s\n", resticVersion, err, out)
		restic = ""
		if p, err := exec.LookPath("restic"); err == nil {
			restic = p
		} else {
			missing = append(missing, "restic")
		}
	}
	if len(missing) > 0 {
		fmt.Printf("installing Debian's %s\n", strings.Join(missing, " and "))
		for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq"}, missing...)} {
			cmd := exec.Command("apt-get", args...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
			}
		}
	}
	if restic == "" {
		return exec.LookPath("restic")
	}
	return restic, nil
}

// waitIdle waits, at most limit, until the disks have done no I/O for a
// second: writeback, journal commits and discards left by the previous
// step (a deletion, the data set's generation) would otherwise slow
// whichever tool runs next, by up to half its time on the VMs we use.
func waitIdle(limit time.Duration) {
	deadline := time.Now().Add(limit)
	last := diskIO()
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		now := diskIO()
		if now == last {
			return
		}
		last = now
	}
}

// diskIO sums the sectors read and written and the requests in flight on
// every disk (/proc/diskstats).
func diskIO() int64 {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0
	}
	var sum int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 12 {
			continue
		}
		for _, k := range []int{5, 9, 11} { // sectors read, sectors written, I/Os in progress
			v, _ := strconv.ParseInt(f[k], 10, 64)
			sum += v
		}
	}
	return sum
}
