package swarm

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/dockerd"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/moby/moby/client"
)

// fleet is a swarm of three nodes with the repository on an S3 server in
// the swarm's switch, and lifeboat run there too (where it reaches the
// store as the nodes do; the engines it reaches by their sockets).
type fleet struct {
	*clitest.Swarm
	t        *testing.T
	dir      string
	env      []string // lifeboat's
	endpoint string
	creds    string
	password string
}

func newFleet(t *testing.T) *fleet {
	treetest.RequireRoot(t)
	versitygw := testservers.Find(t, "versitygw")
	f := &fleet{Swarm: clitest.NewSwarm(t, 3), t: t, dir: t.TempDir()}
	store := filepath.Join(f.dir, "s3")
	if err := os.MkdirAll(filepath.Join(store, "fleet"), 0o700); err != nil { // the bucket
		t.Fatal(err)
	}
	port := 20000 + rand.IntN(20000) // the switch's namespace is new: nothing listens there
	t.Logf("versitygw on port %d", port)
	f.endpoint = fmt.Sprintf("http://%s.254:%d", dockerd.Subnet, port)
	gw := f.Switch.Command(versitygw, "--port", fmt.Sprintf("%s.254:%d", dockerd.Subnet, port), "--access", "fleetkey", "--secret", "fleet-secret-key", "posix", store)
	gwLog, err := os.Create(filepath.Join(f.dir, "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	gw.Stdout, gw.Stderr = gwLog, gwLog
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Process.Kill(); _ = gw.Wait(); gwLog.Close() })
	f.creds = filepath.Join(f.dir, "aws-credentials")
	f.password = filepath.Join(f.dir, "lifeboat-password.txt")
	if err := os.WriteFile(f.creds, []byte("[default]\naws_access_key_id = fleetkey\naws_secret_access_key = fleet-secret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.password, []byte("fleet password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + f.dir, "LIFEBOAT_CACHE_DIR=" + filepath.Join(f.dir, "cache"),
		"LIFEBOAT_REPOSITORY=s3://fleet/repo", "LIFEBOAT_PASSWORD_FILE=" + f.password,
		"LIFEBOAT_S3_ENDPOINT=" + f.endpoint, "LIFEBOAT_S3_PATH_STYLE=true", "AWS_REGION=us-east-1",
		"AWS_SHARED_CREDENTIALS_FILE=" + f.creds, "AWS_CONFIG_FILE=/dev/null",
		"DOCKER_HOST=" + f.Manager().Engine.Host, "DOCKER_CONFIG=" + filepath.Join(f.dir, "docker-config")}
	f.Await(time.Minute, "versitygw to answer lifeboat init", func() (bool, string) {
		out, err := f.lifeboat("init")
		return err == nil, out
	})
	// lifeboat's image on every node: the stack's services run it.
	for _, n := range f.Nodes {
		if _, err := n.Client.EnsureImage(context.Background(), lb.Path, lb.Version); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// lifeboat runs lifeboat in the switch, on the manager's engine.
func (f *fleet) lifeboat(args ...string) (string, error) {
	cmd := f.Switch.Command(lb.Path, args...)
	cmd.Env = f.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// nodeFlags are service commands' --node flags: every node's socket.
func (f *fleet) nodeFlags() []string {
	var out []string
	for _, n := range f.Nodes {
		out = append(out, "--node", n.Name+"="+n.Engine.Host)
	}
	return out
}

// deploy deploys the committed swarm example, its schedules shortened.
func (f *fleet) deploy() {
	t := f.t
	example := filepath.Join(f.dir, "swarm")
	if err := os.CopyFS(example, os.DirFS("../../../../examples/swarm")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, from, to string }{
		{"node.yml", `schedule: "0 3 * * *"`, `schedule: "@every 5s"`},
		{"node.yml", "jitter: 20m", "jitter: 0s"},
		{"prune.yml", `prune: "30 4 * * *"`, `prune: "@every 5s"`},
	} {
		p := filepath.Join(example, c.file)
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), c.from) {
			t.Fatalf("%s: %v, or no %s in it", c.file, err, c.from)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), c.from, c.to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	image, err := f.Manager().Client.EnsureImage(context.Background(), lb.Path, lb.Version)
	if err != nil {
		t.Fatal(err)
	}
	deploy := f.DockerCmd(f.Manager(), "stack", "deploy", "-c", filepath.Join(example, "stack.yml"), "fleet")
	deploy.Dir = example
	deploy.Env = append(deploy.Env, "LIFEBOAT_IMAGE="+image,
		"LIFEBOAT_REPOSITORY=s3://fleet/repo", "LIFEBOAT_S3_ENDPOINT="+f.endpoint, "LIFEBOAT_S3_PATH_STYLE=true",
		"DOCKER_SOCKET="+f.Sockets, "LIFEBOAT_PASSWORD_FILE="+f.password, "AWS_CREDENTIALS_FILE="+f.creds)
	if b, err := deploy.CombinedOutput(); err != nil {
		t.Fatalf("stack deploy: %v\n%s", err, b)
	}
	t.Cleanup(func() { _ = f.DockerCmd(f.Manager(), "stack", "rm", "fleet").Run() })
}

// snapshotHosts are the hosts of the snapshots of volume.
func (f *fleet) snapshotHosts(volume string) (map[string]int, string) {
	out, err := f.lifeboat("snapshots", "--json", "--volume", volume)
	if err != nil {
		return nil, out
	}
	var list struct {
		Snapshots []struct{ Host string }
	}
	hosts := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if json.Unmarshal([]byte(line), &list) == nil {
			for _, s := range list.Snapshots {
				hosts[s.Host]++
			}
		}
	}
	return hosts, out
}

// The fleet example on three nodes: every node's daemon backs up that
// node's labelled volume under the node's name, and the one prune owner
// prunes beside them.
func TestFleetOnThreeNodes(t *testing.T) {
	f := newFleet(t)
	for _, n := range f.Nodes {
		if _, err := n.Client.Client().VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: "nodedata",
			Labels: map[string]string{"com.example.backup": "nightly"}}); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(clitest.Mountpoint(t, n.Client, "nodedata"), "name"), []byte(n.Name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.deploy()
	f.Await(3*time.Minute, "a snapshot of nodedata from every node, twice", func() (bool, string) {
		hosts, out := f.snapshotHosts("nodedata")
		for _, n := range f.Nodes {
			if hosts[n.Name] < 2 {
				return false, fmt.Sprintf("%v\n%s\nnode service:\n%s", hosts, out, f.serviceLogs("fleet_node"))
			}
		}
		return true, ""
	})
	f.Await(3*time.Minute, "the prune owner to prune", func() (bool, string) {
		logs := f.serviceLogs("fleet_prune")
		return strings.Count(logs, "job fleet-prune succeeded") >= 2, logs
	})
	if tasks := f.Docker(f.Manager(), "service", "ps", "fleet_node", "--filter", "desired-state=running", "--format", "{{.Node}}"); strings.Count(tasks, "node-") != 3 {
		t.Fatalf("the global service runs on %q, want one task on each node", tasks)
	}
	// Each node's snapshot holds that node's file.
	for _, n := range f.Nodes {
		dst := t.TempDir()
		if out, err := f.lifeboat("restore", "latest", "--volume", "nodedata", "--host", n.Name, "--target", dst); err != nil {
			t.Fatalf("restore %s's: %v\n%s", n.Name, err, out)
		}
		if b, err := os.ReadFile(filepath.Join(dst, "name")); err != nil || string(b) != n.Name {
			t.Fatalf("%s's snapshot holds %q (%v)", n.Name, b, err)
		}
	}
	if logs := f.serviceLogs("fleet_node"); strings.Contains(logs, "locked") && strings.Contains(logs, "failed") {
		t.Fatalf("a node's backup failed on a lock:\n%s", logs)
	}
}

func (f *fleet) serviceLogs(service string) string {
	b, _ := f.DockerCmd(f.Manager(), "service", "logs", "--raw", service).CombinedOutput()
	return string(b)
}

// writerScript is a database-like writer: it appends a counter to /data/log
// and writes an 8 KiB page of a 8 MiB file for each, continuing from the
// last counter in the log when it starts again.
const writerScript = clitest.QuickStop + `i=$(tail -n 1 /data/log 2>/dev/null || echo 0); i=${i:-0}
while true; do i=$((i+1)); dd if=/dev/urandom of=/data/pages bs=8192 seek=$((i % 1024)) count=1 conv=notrunc 2>/dev/null; echo $i >> /data/log; sleep 0.02; done`

// counters reads a log of the writer: its counters, checked to run 1, 2,
// 3, ... with none lost or repeated.
func counters(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("%s: line %d is %q, want %d (a counter lost or repeated)", path, i+1, l, i+1)
		}
	}
	return len(lines)
}

// last is the newest counter in a writer's log, 0 if there is none yet.
func last(path string) int {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	n, _ := strconv.Atoi(lines[len(lines)-1])
	return n
}
