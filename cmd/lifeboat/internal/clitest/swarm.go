package clitest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/dockerd"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// Node is one engine of a test swarm.
type Node struct {
	Name   string // its hostname, the swarm node's name
	Addr   string // its address on the swarm's switch
	Engine *dockerd.Engine
	Client *sidecar.Engine
}

// Swarm is a swarm of engines on this machine, each in network and UTS
// namespaces of its own, joined by a switch (dockerd.Switch): node-1 is
// the manager, the others are workers.
type Swarm struct {
	Nodes  []*Node
	Switch *dockerd.Switch
	// Sockets is the template of every node's socket path:
	// <dir>/{{.Node.Hostname}}/sock (a swarm service's mount source).
	Sockets string
	t       *testing.T
	config  string // DOCKER_CONFIG of the docker commands
}

// NewSwarm starts n engines named node-1 ... node-n, forms the swarm, and
// waits until every node is ready. All of it ends with the test. Without
// dockerd, unshare or ip it skips, or fails under CI=true.
func NewSwarm(t *testing.T, n int) *Swarm {
	t.Helper()
	for _, tool := range []string{"docker", "ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("a test swarm needs %s: %v", tool, err)
			}
			t.Skipf("a test swarm needs %s: %v", tool, err)
		}
	}
	sw, err := dockerd.NewSwitch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Close)
	dir, err := os.MkdirTemp("/tmp", "lbswarm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Swarm{Switch: sw, Sockets: filepath.Join(dir, "{{.Node.Hostname}}", "sock"), t: t, config: filepath.Join(dir, "docker-config")}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node-%d", i)
		e, err := dockerd.StartNode(context.Background(), dir, name)
		if errors.Is(err, dockerd.ErrMissing) && os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Stop)
		addr, err := sw.Attach(e, i)
		if err != nil {
			t.Fatal(err)
		}
		c, err := sidecar.Connect(context.Background(), e.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s.Nodes = append(s.Nodes, &Node{Name: name, Addr: addr, Engine: e, Client: c})
	}
	manager := s.Nodes[0]
	s.Docker(manager, "swarm", "init", "--advertise-addr", manager.Addr, "--listen-addr", manager.Addr+":2377")
	t.Cleanup(func() {
		for _, n := range s.Nodes {
			_ = s.command(n, "swarm", "leave", "--force").Run()
		}
	})
	token := s.Docker(manager, "swarm", "join-token", "-q", "worker")
	for _, n := range s.Nodes[1:] {
		s.Docker(n, "swarm", "join", "--token", token, "--advertise-addr", n.Addr, "--listen-addr", n.Addr+":2377", manager.Addr+":2377")
	}
	s.Await(time.Minute, "every node ready", func() (bool, string) {
		out := s.Docker(manager, "node", "ls", "--format", "{{.Hostname}} {{.Status}}")
		return strings.Count(out, " Ready") == n, out
	})
	return s
}

// Manager is the node the swarm was formed on.
func (s *Swarm) Manager() *Node { return s.Nodes[0] }

func (s *Swarm) command(n *Node, args ...string) *exec.Cmd {
	cmd := exec.Command("docker", append([]string{"--host", n.Engine.Host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+s.config)
	return cmd
}

// Docker runs the docker command on node n and returns its trimmed
// output; a failure fails the test.
func (s *Swarm) Docker(n *Node, args ...string) string {
	s.t.Helper()
	b, err := s.command(n, args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("docker on %s: %s: %v\n%s", n.Name, strings.Join(args, " "), err, b)
	}
	return strings.TrimSpace(string(b))
}

// DockerCmd is the docker command on node n, not started, for one that
// needs its own environment or directory.
func (s *Swarm) DockerCmd(n *Node, args ...string) *exec.Cmd { return s.command(n, args...) }

// Await polls cond every 200 ms until it holds, failing the test with
// what cond last said after timeout.
func (s *Swarm) Await(timeout time.Duration, what string, cond func() (bool, string)) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, said := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for %s:\n%s", timeout, what, said)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
