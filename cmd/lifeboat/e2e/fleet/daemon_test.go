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

// A job's check: schedule checks the repository; a maintenance job with
// both prune: and check: runs them as NAME-prune and NAME-check. A
// check that finds damage fails the run (exit 4 with --once) and says
// what to repair.
func TestDaemonCheckJob(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"data.bin": treetest.RandomBytes(7, 2<<20)})
	cfg := filepath.Join(t.TempDir(), "lifeboat.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`daemon:
  listen: "off"
  jobs:
    - name: files
      schedule: "@daily"
      paths: [%q]
      check: "@weekly"
    - name: weekly
      prune: "@weekly"
      check: "@weekly"
      check-read-data: 100%%
`, src)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.OK("daemon", "--config", cfg, "--once", "files")
	for job, want := range map[string]string{
		"files-check":  "1 snapshot checked, 0 packs read; no errors found",
		"weekly-check": "1 snapshot checked, 2 packs read; no errors found",
		"weekly-prune": "0 packs deleted",
	} {
		if r := c.Run("daemon", "--config", cfg, "--once", job); r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Fatalf("--once %s: exit %d, want 0 and %q:\n%s%s", job, r.Code, want, r.Stdout, r.Stderr)
		}
	}
	c.Fails(1, "no job named", "daemon", "--config", cfg, "--once", "weekly")

	packs, _ := filepath.Glob(filepath.Join(c.Repo, "data", "*", "*"))
	flipped := 0
	for _, p := range packs {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 1<<20 {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x10
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			flipped++
		}
	}
	if flipped != 1 {
		t.Fatalf("want one data pack to damage, found %d in %v", flipped, packs)
	}
	c.OK("daemon", "--config", cfg, "--once", "files-check") // reads no data
	r := c.Fails(4, "to mend it: lifeboat repair packs", "daemon", "--config", cfg, "--once", "weekly-check")
	if !strings.Contains(r.Stdout, "/data.bin") || !strings.Contains(r.Stderr, "(1 snapshot checked, 2 packs read; to mend it: lifeboat repair packs") {
		t.Fatalf("the check run does not name the damaged file, or its summary the repair:\n%s%s", r.Stdout, r.Stderr)
	}
}
