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
	"sync"
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
	example := clitest.SwarmExample(t, "../../../../examples", f.dir)
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

// snapshot is a snapshot as the tests look at it.
type snapshot struct {
	ID, Host string
	Time     time.Time
}

// snapshotsOf lists the snapshots of volume, by host. Each node forgets by
// its keep policy as it backs up, so a host's count does not grow: tests
// count the distinct ids they have seen, or look at times.
func (f *fleet) snapshotsOf(volume string) (map[string][]snapshot, string) {
	out, err := f.lifeboat("snapshots", "--json", "--volume", volume)
	if err != nil {
		return nil, out
	}
	var list struct{ Snapshots []snapshot }
	hosts := map[string][]snapshot{}
	for _, line := range strings.Split(out, "\n") {
		if json.Unmarshal([]byte(line), &list) == nil {
			for _, s := range list.Snapshots {
				hosts[s.Host] = append(hosts[s.Host], s)
			}
		}
	}
	return hosts, out
}

// seen gathers the distinct snapshots a test has seen, by host.
type seen map[string]map[string]bool

func (s seen) add(hosts map[string][]snapshot) {
	for h, list := range hosts {
		if s[h] == nil {
			s[h] = map[string]bool{}
		}
		for _, sn := range list {
			s[h][sn.ID] = true
		}
	}
}

// newer reports whether host has a snapshot taken after t.
func newer(hosts map[string][]snapshot, host string, t time.Time) bool {
	for _, s := range hosts[host] {
		if s.Time.After(t) {
			return true
		}
	}
	return false
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
	backups := seen{}
	f.Await(3*time.Minute, "two snapshots of nodedata from every node", func() (bool, string) {
		hosts, out := f.snapshotsOf("nodedata")
		backups.add(hosts)
		for _, n := range f.Nodes {
			if len(backups[n.Name]) < 2 {
				return false, fmt.Sprintf("%v\n%s\nnode service:\n%s", backups, out, f.serviceLogs("fleet_node"))
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

// outage watches a writer's counter on two volumes from outside, every
// 20 ms: when the source's last changed and when the destination's first
// went past it.
type outage struct {
	mu             sync.Mutex
	src, dst       string // the log files
	srcLast        int
	srcChanged     time.Time
	dstFirst       time.Time
	polls          int
	stop, finished chan struct{}
}

func watchOutage(src string) *outage {
	o := &outage{src: src, stop: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(o.finished)
		for {
			select {
			case <-o.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			o.mu.Lock()
			if n := last(o.src); n > o.srcLast {
				o.srcLast, o.srcChanged = n, time.Now()
			}
			if o.dst != "" && o.dstFirst.IsZero() && last(o.dst) > o.srcLast {
				o.dstFirst = time.Now()
			}
			o.polls++
			o.mu.Unlock()
		}
	}()
	return o
}

// watchDestination starts watching the destination's log too.
func (o *outage) watchDestination(dst string) {
	o.mu.Lock()
	o.dst = dst
	o.mu.Unlock()
}

// downtime is the longest the writer was seen to stand still: from its
// last counter on the source to its first past that on the destination.
func (o *outage) downtime(t *testing.T) time.Duration {
	t.Helper()
	var d time.Duration
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		o.mu.Lock()
		done := !o.dstFirst.IsZero()
		d = o.dstFirst.Sub(o.srcChanged)
		o.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer did not go on past its last counter on the destination")
		}
	}
	close(o.stop)
	<-o.finished
	if o.polls < 10 {
		t.Fatalf("the outage watch polled %d times", o.polls)
	}
	return d
}

// A followed service with a database-like writer moves from node-1 to
// node-2 while it runs (--live, as every followed service off node-1): its volume comes along, the writer
// continues there from its last counter, none lost, and the downtime
// seen from outside is close to the one lifeboat reports. A move whose
// task does not run in time is put back; wrong moves are refused.
func TestServiceMove(t *testing.T) {
	f := newFleet(t)
	n1, n2, n3 := f.Nodes[0], f.Nodes[1], f.Nodes[2]
	image := fmt.Sprintf("lifeboat-test-writer:%d", os.Getpid())
	clitest.BusyboxImage(t, n1.Client, image, writerScript) // on node-1 only: the move sends it
	// A volume with more in it than the writer writes: 48 MiB of pages.
	if _, err := n1.Client.Client().VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: "shop_data",
		Labels: map[string]string{"com.example.backup": "nightly"}}); err != nil {
		t.Fatal(err)
	}
	mount1 := clitest.Mountpoint(t, n1.Client, "shop_data")
	if err := os.WriteFile(filepath.Join(mount1, "base"), treetest.RandomBytes(24, 48<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f.Docker(n1, "service", "create", "--detach", "--name", "shop_db", "--label", "lifeboat.follow=true", "--no-resolve-image",
		"--network", "host", "--constraint", "node.hostname==node-1", "--stop-grace-period", "5s",
		"--mount", "type=volume,source=shop_data,target=/data", image)
	t.Cleanup(func() { _ = f.DockerCmd(n1, "service", "rm", "shop_db").Run() })
	log1 := filepath.Join(mount1, "log")
	f.Await(time.Minute, "the writer to run on node-1", func() (bool, string) {
		return last(log1) > 20, f.Docker(n1, "service", "ps", "--no-trunc", "shop_db")
	})

	// Refused: not followed, the node it is on, a node that is not there.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"shop_db", "--to", "node-1"}, "runs on node-1 already"},
		{[]string{"shop_db", "--to", "node-9"}, "no node node-9"},
		{[]string{"shop_db"}, "--to"},
		{[]string{"shop_db", "--from", "node-1", "--to", "node-2"}, "--from a node"},
		{[]string{"--from", "node-7", "--to", "node-2"}, "no node node-7"},
		{[]string{"shop_db", "--to", "node-2", "--max-rounds", "3"}, "--max-rounds needs --live"},
		{[]string{"nope", "--to", "node-2"}, "service nope"},
	} {
		out, err := f.lifeboat(append(append([]string{"service", "move"}, c.args...), f.nodeFlags()...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Fatalf("service move %v: %v, want a refusal saying %q:\n%s", c.args, err, c.want, out)
		}
	}

	watch := watchOutage(log1)
	// Every followed service off node-1, as before a drain: shop_db.
	out, err := f.lifeboat(append([]string{"service", "move", "--from", "node-1", "--to", "node-2", "--live", "--json"}, f.nodeFlags()...)...)
	if err != nil {
		t.Fatalf("service move: %v\n%s\nthe service's tasks:\n%s", err, out, f.Docker(n1, "service", "ps", "--no-trunc", "shop_db"))
	}
	var res struct {
		Type            string
		From, To        string
		DowntimeSeconds float64 `json:"downtime_seconds"`
		Rounds          []struct {
			Sent int64 `json:"bytes_sent"`
		}
		Volumes []struct {
			Volume, Snapshot string
			Match            bool
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"type":"service_move"`) {
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Fatal(err)
			}
		}
	}
	if res.From != "node-1" || res.To != "node-2" || len(res.Rounds) < 2 || len(res.Volumes) != 1 || !res.Volumes[0].Match || res.DowntimeSeconds <= 0 {
		t.Fatalf("the move's result: %+v\n%s", res, out)
	}
	mount2 := clitest.Mountpoint(t, n2.Client, "shop_data")
	watch.watchDestination(filepath.Join(mount2, "log"))
	seen := watch.downtime(t)
	t.Logf("rounds sent %v; downtime %.2f s reported, %.2f s seen from outside", res.Rounds, res.DowntimeSeconds, seen.Seconds())
	// The writer's last write before the stop and first after it are
	// within 0.5 s of the stop and of the swarm's report that it runs.
	if d := seen.Seconds() - res.DowntimeSeconds; d > 0.5 || d < -0.5 {
		t.Fatalf("the writer stood still %.2f s, lifeboat reported %.2f s", seen.Seconds(), res.DowntimeSeconds)
	}
	if on := f.Docker(n1, "service", "ps", "shop_db", "--filter", "desired-state=running", "--format", "{{.Node}}"); on != "node-2" {
		t.Fatalf("shop_db runs on %q", on)
	}
	// node-1's volume is as it was at the stop, and so is the last round's
	// snapshot; node-2's log goes on from there, none lost.
	stopped := counters(t, log1)
	dst := t.TempDir()
	if out, err := f.lifeboat("restore", res.Volumes[0].Snapshot, "--target", dst); err != nil {
		t.Fatalf("restore the last round: %v\n%s", err, out)
	}
	if err := treetest.Compare(mount1, dst); err != nil {
		t.Fatalf("node-1's volume and the last round's snapshot: %v", err)
	}
	f.Await(time.Minute, "the writer to go on on node-2", func() (bool, string) {
		return last(filepath.Join(mount2, "log")) > stopped+20, ""
	})
	if n := counters(t, filepath.Join(mount2, "log")); n <= stopped {
		t.Fatalf("node-2's log ends at %d, node-1's at %d", n, stopped)
	}
	if b1, b2 := mustRead(t, filepath.Join(mount1, "base")), mustRead(t, filepath.Join(mount2, "base")); string(b1) != string(b2) {
		t.Fatal("the base file differs on node-2")
	}

	// A move whose task does not run in time is put back where it ran.
	before := last(filepath.Join(mount2, "log"))
	out, err = f.lifeboat(append([]string{"service", "move", "shop_db", "--to", "node-3", "--wait-running", "1ms"}, f.nodeFlags()...)...)
	if err == nil || !strings.Contains(out, "put back on node-2") {
		t.Fatalf("a move that times out: %v\n%s", err, out)
	}
	f.Await(time.Minute, "shop_db to run on node-2 again", func() (bool, string) {
		on := f.Docker(n1, "service", "ps", "shop_db", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
		return strings.HasPrefix(on, "node-2 Running"), on
	})
	f.Await(time.Minute, "the writer to go on on node-2 again", func() (bool, string) {
		return last(filepath.Join(mount2, "log")) > before+20, ""
	})
	counters(t, filepath.Join(mount2, "log"))
	if spec := f.Docker(n1, "service", "inspect", "shop_db", "--format", "{{json .Spec.TaskTemplate.Placement.Constraints}}"); strings.Contains(spec, n3ID(f, n3)) {
		t.Fatalf("the put-back service is still pinned to node-3: %s", spec)
	}

	// Where it runs, and its volume's snapshots: none from node-2 until
	// node-2's daemon backs it up.
	out, err = f.lifeboat("service", "status", "--json")
	if err != nil || !strings.Contains(out, `"service":"shop_db","nodes":["node-2"],"pinned":true`) || !strings.Contains(out, `"volume":"shop_data","last_on_node":null,"newer_elsewhere":{`) {
		t.Fatalf("service status: %v\n%s", err, out)
	}
}

func n3ID(f *fleet, n *clitest.Node) string {
	return f.Docker(n, "info", "--format", "{{.Swarm.NodeID}}")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A followed service pinned to node-3, whose daemon backs its volume up:
// node-3's engine stops (a node failure). The service waits, pending, and
// `service recover` brings it up on node-2 from its newest snapshot taken
// on node-3 (node-2, not node-1: only node-2 has its image); its writer
// goes on from that snapshot's last counter, none repeated, while the
// other nodes keep backing up.
func TestServiceRecover(t *testing.T) {
	f := newFleet(t)
	n1, n2, n3 := f.Nodes[0], f.Nodes[1], f.Nodes[2]
	image := fmt.Sprintf("lifeboat-test-writer:%d", os.Getpid())
	for _, n := range []*clitest.Node{n2, n3} {
		clitest.BusyboxImage(t, n.Client, image, writerScript)
	}
	for _, n := range f.Nodes {
		if _, err := n.Client.Client().VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: "nodedata",
			Labels: map[string]string{"com.example.backup": "nightly"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n3.Client.Client().VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: "files_data",
		Labels: map[string]string{"com.example.backup": "nightly"}}); err != nil {
		t.Fatal(err)
	}
	f.Docker(n1, "service", "create", "--detach", "--name", "files_db", "--label", "lifeboat.follow=true", "--no-resolve-image",
		"--network", "host", "--constraint", "node.hostname==node-3", "--stop-grace-period", "5s",
		"--mount", "type=volume,source=files_data,target=/data", image)
	t.Cleanup(func() { _ = f.DockerCmd(n1, "service", "rm", "files_db").Run() })
	f.deploy()
	backups := seen{}
	f.Await(3*time.Minute, "two snapshots of files_data from node-3", func() (bool, string) {
		hosts, out := f.snapshotsOf("files_data")
		backups.add(hosts)
		return len(backups["node-3"]) >= 2, out
	})
	if out, err := f.lifeboat(append([]string{"service", "recover", "files_db"}, f.nodeFlags()...)...); err == nil || !strings.Contains(out, "runs on node-3") {
		t.Fatalf("recover of a running service: %v\n%s", err, out)
	}

	n3.Engine.Stop() // node-3 fails, its volumes with it
	f.Await(2*time.Minute, "the manager to see node-3 down", func() (bool, string) {
		out := f.Docker(n1, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
		return strings.Contains(out, "node-3 Down"), out
	})
	var flags []string
	for _, n := range []*clitest.Node{n1, n2} {
		flags = append(flags, "--node", n.Name+"="+n.Engine.Host)
	}
	out, err := f.lifeboat(append([]string{"service", "recover", "files_db", "--json"}, flags...)...)
	if err != nil {
		t.Fatalf("service recover: %v\n%s\ntasks:\n%s", err, out, f.Docker(n1, "service", "ps", "--no-trunc", "files_db"))
	}
	var res struct {
		From, To string
		Volumes  []struct {
			Volume   string
			Snapshot struct{ ID, Host string }
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"type":"service_recover"`) {
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Fatal(err)
			}
		}
	}
	if res.From != "node-3" || res.To != "node-2" || len(res.Volumes) != 1 || res.Volumes[0].Snapshot.Host != "node-3" {
		t.Fatalf("the recovery: %+v\n%s", res, out)
	}
	if on := f.Docker(n1, "service", "ps", "files_db", "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}"); !strings.HasPrefix(on, "node-2 Running") {
		t.Fatalf("files_db: %q", on)
	}
	// node-2's log starts as the snapshot's and goes on from its last counter.
	dst := t.TempDir()
	if out, err := f.lifeboat("restore", res.Volumes[0].Snapshot.ID, "--target", dst); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	atSnapshot := counters(t, filepath.Join(dst, "log"))
	log2 := filepath.Join(clitest.Mountpoint(t, n2.Client, "files_data"), "log")
	f.Await(time.Minute, "the writer to go on on node-2", func() (bool, string) {
		return last(log2) > atSnapshot+20, ""
	})
	if n := counters(t, log2); n <= atSnapshot {
		t.Fatalf("node-2's log ends at %d, the snapshot's at %d", n, atSnapshot)
	}
	// The surviving nodes keep backing up.
	recovered := time.Now()
	f.Await(time.Minute, "new snapshots from node-1 and node-2", func() (bool, string) {
		hosts, out := f.snapshotsOf("nodedata")
		return newer(hosts, "node-1", recovered) && newer(hosts, "node-2", recovered), out
	})
	out, err = f.lifeboat("service", "status", "--json")
	if err != nil || !strings.Contains(out, `"service":"files_db","nodes":["node-2"]`) {
		t.Fatalf("service status: %v\n%s", err, out)
	}
	// node-2's daemon backs the recovered volume up, and its metrics say
	// when, for the service.
	series := `lifeboat_volume_last_snapshot_timestamp_seconds{host="node-2",service="files_db",volume="files_data"} `
	f.Await(time.Minute, "node-2's metrics to show files_db's volume backed up", func() (bool, string) {
		b, err := n2.Engine.Command("/bin/busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:9123/metrics").CombinedOutput()
		_, value, found := strings.Cut(string(b), series)
		value, _, _ = strings.Cut(value, "\n")
		at, _ := strconv.ParseFloat(value, 64)
		return err == nil && found && at > 0, fmt.Sprintf("%v\n%s", err, b)
	})
}
