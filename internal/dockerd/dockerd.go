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
	"syscall"
	"time"

	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// ErrMissing: dockerd or unshare is not installed.
var ErrMissing = errors.New("dockerd and unshare (util-linux) are needed for a second engine")

// Engine is a running second engine.
type Engine struct {
	Host string // its DOCKER_HOST, unix://<dir>/sock
	dir  string
	cmd  *exec.Cmd
	logs *os.File
}

// Start starts an engine under a new directory in parent and waits until
// it answers (at most a minute).
func Start(ctx context.Context, parent string) (*Engine, error) {
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
	// Its own (empty) config file: the machine's daemon.json is the first engine's.
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e.cmd = exec.Command(unshare, "--net", "--", dockerd, "--config-file", filepath.Join(dir, "daemon.json"), "--host", e.Host,
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false")
	if e.logs, err = os.Create(filepath.Join(dir, "log")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
	if err := e.cmd.Start(); err != nil {
		e.logs.Close()
		os.RemoveAll(dir)
		return nil, err
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
	_ = os.RemoveAll(e.dir)
}
