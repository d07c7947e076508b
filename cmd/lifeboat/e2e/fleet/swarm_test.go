package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/client"
)

// requireCommand finds a command the test needs: skipped without it,
// except under CI=true, where that fails.
func requireCommand(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed: %v", name, err)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// The fleet example (examples/swarm) as committed, deployed with docker
// stack deploy on a single-node swarm: a second engine in its own network
// namespace, with versitygw there as the fleet's S3 store. The node's
// daemon (a global service) backs up the node's labelled volume on its
// schedule into a snapshot that records the node's hostname, and the one
// prune owner prunes on its schedule. Only the schedules are shortened.
func TestSwarmFleet(t *testing.T) {
	treetest.RequireRoot(t)
	docker := requireCommand(t, "docker")
	requireCommand(t, "nsenter")
	requireCommand(t, "ip")
	versitygw := testservers.Find(t, "versitygw")
	ctx := context.Background()
	eng := clitest.SecondEngine(t)
	if err := eng.LoopbackUp(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// The store, inside the swarm node's network namespace.
	store := filepath.Join(dir, "s3")
	if err := os.MkdirAll(filepath.Join(store, "fleet"), 0o700); err != nil { // the bucket
		t.Fatal(err)
	}
	port := 20000 + rand.IntN(20000) // the namespace is new: nothing listens there
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	gw := eng.Command(versitygw, "--port", fmt.Sprintf("127.0.0.1:%d", port), "--access", "fleetkey", "--secret", "fleet-secret-key", "posix", store)
	gwLog, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	gw.Stdout, gw.Stderr = gwLog, gwLog
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Process.Kill(); _ = gw.Wait(); gwLog.Close() })
	creds := filepath.Join(dir, "aws-credentials")
	password := filepath.Join(dir, "lifeboat-password.txt")
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = fleetkey\naws_secret_access_key = fleet-secret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(password, []byte("fleet password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LIFEBOAT_CACHE_DIR=" + filepath.Join(dir, "cache"),
		"LIFEBOAT_REPOSITORY=s3://fleet/repo", "LIFEBOAT_PASSWORD_FILE=" + password,
		"LIFEBOAT_S3_ENDPOINT=" + endpoint, "LIFEBOAT_S3_PATH_STYLE=true", "AWS_REGION=us-east-1",
		"AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=/dev/null"}
	lifeboat := func(args ...string) (string, error) {
		cmd := eng.Command(lb.Path, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var out string
	for deadline := time.Now().Add(3 * time.Minute); ; { // until versitygw answers
		if out, err = lifeboat("init"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "versitygw.log"))
			t.Fatalf("init: %v\n%s\nversitygw:\n%s", err, out, b)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The swarm, the image, and a labelled volume with data on the node.
	dockerCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(docker, append([]string{"--host", eng.Host}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "docker-config"))
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return strings.TrimSpace(string(b))
	}
	dockerCmd("swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:2377")
	t.Cleanup(func() {
		_ = exec.Command(docker, "--host", eng.Host, "stack", "rm", "fleet").Run()
		_ = exec.Command(docker, "--host", eng.Host, "swarm", "leave", "--force").Run()
	})
	node := dockerCmd("node", "inspect", "self", "--format", "{{.Description.Hostname}}")
	e2, err := sidecar.Connect(ctx, eng.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	image, err := e2.EnsureImage(ctx, lb.Path, lb.Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e2.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: "shopdata", Labels: map[string]string{"com.example.backup": "nightly"}}); err != nil {
		t.Fatal(err)
	}
	treetest.Build(t, clitest.Mountpoint(t, e2, "shopdata"))

	// The example as committed, but for the schedules.
	example := clitest.SwarmExample(t, "../../../../examples", dir)
	deploy := exec.Command(docker, "--host", eng.Host, "stack", "deploy", "-c", filepath.Join(example, "stack.yml"), "fleet")
	deploy.Dir = example
	deploy.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(dir, "docker-config"), "LIFEBOAT_IMAGE="+image,
		"LIFEBOAT_REPOSITORY=s3://fleet/repo", "LIFEBOAT_S3_ENDPOINT="+endpoint, "LIFEBOAT_S3_PATH_STYLE=true",
		"DOCKER_SOCKET="+strings.TrimPrefix(eng.Host, "unix://"), "LIFEBOAT_PASSWORD_FILE="+password, "AWS_CREDENTIALS_FILE="+creds)
	if b, err := deploy.CombinedOutput(); err != nil {
		t.Fatalf("stack deploy: %v\n%s", err, b)
	}

	// A scheduled backup appears, with the node's name; the prune owner prunes.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err = lifeboat("snapshots", "--json", "--volume", "shopdata")
		if err == nil && strings.Contains(out, `"host":"`+node+`"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot of shopdata from host %s: %v\n%s\nnode service:\n%s", node, err, out, dockerCmd("service", "logs", "--raw", "fleet_node"))
		}
		time.Sleep(time.Second)
	}
	for {
		logs := dockerCmd("service", "logs", "--raw", "fleet_prune")
		if strings.Contains(logs, "job fleet-prune succeeded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the prune owner did not prune:\n%s", logs)
		}
		time.Sleep(time.Second)
	}
	if tasks := dockerCmd("service", "ps", "fleet_node", "--filter", "desired-state=running", "--format", "{{.Node}}"); tasks != node {
		t.Fatalf("the global service runs on %q, want one task on %s", tasks, node)
	}
	dst := t.TempDir()
	if out, err := lifeboat("restore", "latest", "--volume", "shopdata", "--target", dst); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if err := treetest.Compare(clitest.Mountpoint(t, e2, "shopdata"), dst); err != nil {
		t.Fatal(err)
	}
	_ = exec.Command(docker, "--host", eng.Host, "stack", "rm", "fleet").Run()
	_ = exec.Command(docker, "--host", eng.Host, "swarm", "leave", "--force").Run()
}
