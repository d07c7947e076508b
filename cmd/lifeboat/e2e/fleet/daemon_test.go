package fleet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/moby/moby/client"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// --once runs a job (backup, then forget by its policy); the daemon serves
// /healthz and /metrics and stops cleanly on SIGTERM.
func TestDaemon(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"conf": []byte("v1")})
	port := freePort(t)
	cfg := filepath.Join(t.TempDir(), "lifeboat.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`host: node-7
daemon:
  listen: "127.0.0.1:%d"
  jobs:
    - name: files
      schedule: "@daily"
      paths: [%q]
      keep:
        last: 1
`, port, src)), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := os.WriteFile(filepath.Join(src, "conf"), []byte(fmt.Sprint("v", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		c.OK("daemon", "--config", cfg, "--once", "files")
	}
	if out := c.OK("snapshots", "--tag", "job:files"); !strings.Contains(out, "\n1 snapshot\n") {
		t.Fatalf("the job's keep policy did not apply:\n%s", out)
	}
	c.Fails(1, "no job named", "daemon", "--config", cfg, "--once", "nope")

	cmd := c.Cmd("daemon", "--config", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var health int
	for deadline := time.Now().Add(30 * time.Second); health == 0; time.Sleep(25 * time.Millisecond) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			health = resp.StatusCode
			resp.Body.Close()
		} else if time.Now().After(deadline) {
			t.Fatalf("waited 30s for the daemon to answer on %s/healthz: %v", base, err)
		}
	}
	if health != 200 {
		t.Fatalf("healthz: %d", health)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Every series names the host, so that one Prometheus sees a fleet.
	// Measured at the start, before any job ran (it said 0 until then).
	if resp.StatusCode != 200 || !strings.Contains(string(body), `lifeboat_repository_snapshots{host="node-7"} 1`+"\n") {
		t.Fatalf("metrics: %s\n%s", resp.Status, body)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("daemon after SIGTERM: %v", err)
	}
}

// The example config's nightly job, run against the real engine.
func TestExampleDaemonJob(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	vol := fmt.Sprintf("lbex-%d", os.Getpid())
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol,
		Labels: map[string]string{"com.example.backup": "nightly"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	if err := os.WriteFile(clitest.Mountpoint(t, e, vol)+"/orders.csv", []byte("1,2,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := lb.CLI(t)
	c.OK("init")
	example, _ := filepath.Abs("../../../../examples/lifeboat.yml")
	c.OK("daemon", "--config", example, "--once", "nightly")
	if out := c.OK("snapshots", "--volume", vol, "--tag", "nightly"); !strings.Contains(out, "\n1 snapshot\n") {
		t.Fatalf("example job:\n%s", out)
	}
}
