package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/client"
)

// secondEngine starts another dockerd on its own socket and data root.
func secondEngine(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("dockerd"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dockerd missing")
		}
		t.Skip("no dockerd")
	}
	dir, err := os.MkdirTemp("/tmp", "lbd")
	if err != nil {
		t.Fatal(err)
	}
	host := "unix://" + filepath.Join(dir, "sock")
	// Its own (empty) config file: the machine's daemon.json is the first engine's.
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	// In a network namespace of its own: a second dockerd in the host's
	// namespace takes the first engine's docker0 bridge away when it stops.
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("unshare (util-linux) is needed for a second engine")
	}
	cmd := exec.Command(unshare, "--net", "--", "dockerd", "--config-file", filepath.Join(dir, "daemon.json"), "--host", host, "--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "exec"), "--pidfile", filepath.Join(dir, "pid"),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false")
	logs, _ := os.Create(filepath.Join(dir, "log"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logs.Close()
		_ = os.RemoveAll(dir)
	})
	for i := 0; i < 200; i++ {
		if e, err := sidecar.Connect(context.Background(), host); err == nil {
			e.Close()
			return host, filepath.Join(dir, "root")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	t.Fatalf("second dockerd did not start:\n%s", b)
	return "", ""
}

// connectedSecondEngine starts a second engine and connects to it; both
// end with the test.
func connectedSecondEngine(t *testing.T) (string, *sidecar.Engine) {
	t.Helper()
	host, _ := secondEngine(t)
	e2, err := sidecar.Connect(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2.Close() })
	return host, e2
}

// migrate moves a volume, with all its metadata and labels, from this
// engine to a second one through the repository, and compares both sides.
func TestMigrateBetweenEngines(t *testing.T) {
	treetest.RequireRoot(t)
	e := dockerEngine(t)
	ctx := context.Background()
	host, e2 := connectedSecondEngine(t)
	vol := fmt.Sprintf("lbm-%d", os.Getpid())
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol, Labels: map[string]string{"app": "shop"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	treetest.Build(t, volumeMountpoint(t, e, vol))

	c := newCLI(t)
	c.ok("init")
	out := c.ok("migrate", vol, "--to", host)
	if !strings.Contains(out, "content verified: match") {
		t.Fatalf("migrate output:\n%s", out)
	}
	moved, err := e2.Volumes(ctx, sidecar.Selection{Names: []string{vol}})
	if err != nil || len(moved) != 1 || moved[0].Labels["app"] != "shop" {
		t.Fatalf("destination volume: %+v %v", moved, err)
	}
	if err := treetest.Compare(volumeMountpoint(t, e, vol), moved[0].Mountpoint); err != nil {
		t.Fatalf("migrated volume differs:\n%v", err)
	}
	c.fails(1, "not empty", "migrate", vol, "--to", host)
	c.ok("migrate", vol, "--to", host, "--force")
	// Without a shared repository: streamed through lifeboat.
	if _, err := e2.Client().VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	noRepo := &cli{t: t, repo: "", env: []string{"LIFEBOAT_PASSWORD=unused"}}
	noRepo.ok("migrate", vol, "--to", host, "--direct")
	moved, err = e2.Volumes(ctx, sidecar.Selection{Names: []string{vol}})
	if err != nil || len(moved) != 1 || moved[0].Labels["app"] != "shop" {
		t.Fatalf("destination volume after --direct: %+v %v", moved, err)
	}
	if err := treetest.Compare(volumeMountpoint(t, e, vol), moved[0].Mountpoint); err != nil {
		t.Fatalf("volume migrated with --direct differs:\n%v", err)
	}
	noRepo.fails(1, "not empty", "migrate", vol, "--to", host, "--direct")
	c.fails(1, "destination: cannot reach the Docker engine", "migrate", vol, "--to", "unix:///nonexistent/docker.sock")
	c.fails(2, "--to", "migrate", vol)
}
