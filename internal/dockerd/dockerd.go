// Package dockerd starts a second Docker engine on this machine, for the
// tests and the benchmark of what moves between engines: its own socket,
// data root and configuration, in a network namespace of its own (a second
// dockerd in the host's namespace would take the first engine's docker0
// bridge away when it stops).
package dockerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// ErrMissing: dockerd or unshare is not installed.
var ErrMissing = errors.New("dockerd and unshare (util-linux) are needed for a second engine")

// Engine is a running second engine.
type Engine struct {
	Host    string // its DOCKER_HOST, unix://<dir>/sock
	dir     string
	sockDir string // with a hostname, the directory of its socket
	cmd     *exec.Cmd
	logs    *os.File
}

// Start starts an engine under a new directory in parent and waits until
// it answers (at most a minute).
func Start(ctx context.Context, parent string) (*Engine, error) {
	return StartNode(ctx, parent, "")
}

// StartNode starts an engine as Start does; with a hostname it also has a
// UTS namespace of its own with that hostname (a swarm node's name), and
// its socket is <parent>/<hostname>/sock, so that one path template,
// <parent>/{{.Node.Hostname}}/sock, names the socket of every node
// started in parent.
func StartNode(ctx context.Context, parent, hostname string) (*Engine, error) {
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, ErrMissing
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, ErrMissing
	}
	dir, err := os.MkdirTemp(parent, "lbd")
	if err != nil {
		return nil, err
	}
	e := &Engine{Host: "unix://" + filepath.Join(dir, "sock"), dir: dir}
	fail := func(err error) (*Engine, error) {
		os.RemoveAll(dir)
		if e.sockDir != "" {
			os.RemoveAll(e.sockDir)
		}
		return nil, err
	}
	if hostname != "" {
		e.sockDir = filepath.Join(parent, hostname)
		e.Host = "unix://" + filepath.Join(e.sockDir, "sock")
		if err := os.Mkdir(e.sockDir, 0o700); err != nil {
			e.sockDir = "" // another node's
			return fail(err)
		}
	}
	// Its own (empty) config file: the machine's daemon.json is the first engine's.
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600); err != nil {
		return fail(err)
	}
	args := []string{dockerd, "--config-file", filepath.Join(dir, "daemon.json"), "--host", e.Host,
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"}
	if hostname == "" {
		e.cmd = exec.Command(unshare, append([]string{"--net", "--"}, args...)...)
	} else {
		// hostname runs inside the new namespaces, then dockerd replaces it.
		e.cmd = exec.Command(unshare, "--net", "--uts", "--", "/bin/sh", "-c", `hostname "$0" && exec "$@"`, hostname)
		e.cmd.Args = append(e.cmd.Args, args...)
	}
	if e.logs, err = os.Create(filepath.Join(dir, "log")); err != nil {
		return fail(err)
	}
	e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
	if err := e.cmd.Start(); err != nil {
		e.logs.Close()
		return fail(err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c, err := sidecar.Connect(ctx, e.Host); err == nil {
			c.Close()
			return e, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	e.Stop()
	return nil, fmt.Errorf("second dockerd did not start:\n%s", b)
}

// Command prepares a command that runs in the engine's network namespace,
// where its containers with host networking live (nsenter, util-linux).
func (e *Engine) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(e.Pid()), "-n", "--", name}, args...)...)
}

// Pid is the engine's first process, whose namespaces its own are.
func (e *Engine) Pid() int { return e.cmd.Process.Pid }

// LoopbackUp brings up the loopback interface of the engine's network
// namespace (a new namespace has it down), for servers its host-network
// containers reach on 127.0.0.1 (iproute2).
func (e *Engine) LoopbackUp() error {
	if out, err := e.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("loopback up: %v: %s", err, out)
	}
	return nil
}

// Stop stops the engine (SIGTERM, then SIGKILL after 20 s) and removes its
// directory.
func (e *Engine) Stop() {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-done
	}
	e.logs.Close()
	unmountUnder(e.dir)
	_ = os.RemoveAll(e.dir)
	if e.sockDir != "" {
		_ = os.RemoveAll(e.sockDir)
	}
}

// unmountUnder detaches what the engine left mounted below dir (a swarm
// node's network namespace stays bind-mounted after dockerd exits), so
// that the directory can be removed.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			_ = syscall.Unmount(f[4], syscall.MNT_DETACH)
		}
	}
}
