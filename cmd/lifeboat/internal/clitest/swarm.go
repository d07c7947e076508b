package clitest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/dockerd"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// Node is one engine of a test swarm, with a connection to it.
type Node struct {
	*dockerd.Node
	Client *sidecar.Engine
}

// Swarm is a swarm of engines on this machine (dockerd.StartSwarm): node-1
// is the manager, the others are workers.
type Swarm struct {
	*dockerd.Swarm
	Nodes []*Node
	t     *testing.T
}

// NewSwarm starts a swarm of n engines named node-1 ... node-n; it ends
// with the test. Without dockerd, unshare, ip, nsenter or docker it
// skips, or fails under CI=true.
func NewSwarm(t *testing.T, n int) *Swarm {
	t.Helper()
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("a test swarm needs %s: %v", tool, err)
			}
			t.Skipf("a test swarm needs %s: %v", tool, err)
		}
	}
	ds, err := dockerd.StartSwarm(context.Background(), "/tmp", n)
	if errors.Is(err, dockerd.ErrMissing) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ds.Stop)
	s := &Swarm{Swarm: ds, t: t}
	for _, dn := range ds.Nodes {
		c, err := sidecar.Connect(context.Background(), dn.Engine.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s.Nodes = append(s.Nodes, &Node{Node: dn, Client: c})
	}
	return s
}

// Manager is the node the swarm was formed on.
func (s *Swarm) Manager() *Node { return s.Nodes[0] }

// Docker runs the docker command on node n and returns its trimmed
// output; a failure fails the test.
func (s *Swarm) Docker(n *Node, args ...string) string {
	s.t.Helper()
	out, err := s.Swarm.Docker(n.Node, args...)
	if err != nil {
		s.t.Fatal(err)
	}
	return out
}

// DockerCmd is the docker command on node n, not started, for one that
// needs its own environment or directory.
func (s *Swarm) DockerCmd(n *Node, args ...string) *exec.Cmd {
	return s.Swarm.DockerCmd(n.Node, args...)
}

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

// SwarmExample copies examples/swarm into dir as committed, but for its
// schedules: every 5 s, without jitter. It returns the copy's directory.
// examples is the path of the repository's examples/ from the test.
func SwarmExample(t *testing.T, examples, dir string) string {
	t.Helper()
	example := filepath.Join(dir, "swarm")
	if err := os.CopyFS(example, os.DirFS(filepath.Join(examples, "swarm"))); err != nil {
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
	return example
}
