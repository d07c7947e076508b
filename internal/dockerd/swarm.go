package dockerd

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Node is one engine of a Swarm.
type Node struct {
	Name   string // its hostname, the swarm node's name
	Addr   string // its address on the swarm's switch
	Engine *Engine
}

// Swarm is a swarm of engines on this machine, each in network and UTS
// namespaces of its own, joined by a Switch: node-1 is the manager, the
// others are workers. The docker CLI drives it (Docker).
type Swarm struct {
	Nodes  []*Node
	Switch *Switch
	// Sockets is the template of every node's socket path:
	// <dir>/{{.Node.Hostname}}/sock (a swarm service's mount source).
	Sockets string
	dir     string
	config  string // DOCKER_CONFIG of the docker commands
}

// StartSwarm starts n engines named node-1 ... node-n under a new
// directory in parent, forms the swarm and waits (at most a minute) until
// every node is ready. Stop ends it all.
func StartSwarm(ctx context.Context, parent string, n int) (s *Swarm, err error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("the docker CLI is needed for a swarm: %w", ErrMissing)
	}
	dir, err := os.MkdirTemp(parent, "lbswarm")
	if err != nil {
		return nil, err
	}
	s = &Swarm{Sockets: filepath.Join(dir, "{{.Node.Hostname}}", "sock"), dir: dir, config: filepath.Join(dir, "docker-config")}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.Switch, err = NewSwitch(); err != nil {
		return s, err
	}
	for i := 1; i <= n; i++ {
		e, err := StartNode(ctx, dir, fmt.Sprintf("node-%d", i))
		if err != nil {
			return s, err
		}
		node := &Node{Name: fmt.Sprintf("node-%d", i), Engine: e}
		s.Nodes = append(s.Nodes, node)
		if node.Addr, err = s.Switch.Attach(e, i); err != nil {
			return s, err
		}
	}
	manager := s.Nodes[0]
	if _, err := s.Docker(manager, "swarm", "init", "--advertise-addr", manager.Addr, "--listen-addr", manager.Addr+":2377"); err != nil {
		return s, err
	}
	token, err := s.Docker(manager, "swarm", "join-token", "-q", "worker")
	if err != nil {
		return s, err
	}
	for _, node := range s.Nodes[1:] {
		if _, err := s.Docker(node, "swarm", "join", "--token", token, "--advertise-addr", node.Addr, "--listen-addr", node.Addr+":2377", manager.Addr+":2377"); err != nil {
			return s, err
		}
	}
	var out string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if out, err = s.Docker(manager, "node", "ls", "--format", "{{.Hostname}} {{.Status}}"); err == nil && strings.Count(out, " Ready") == n {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("waited a minute for %d nodes to be ready: %v\n%s", n, err, out)
		}
	}
}

// Manager is the node the swarm was formed on.
func (s *Swarm) Manager() *Node { return s.Nodes[0] }

// DockerCmd is the docker command on node n, not started.
func (s *Swarm) DockerCmd(n *Node, args ...string) *exec.Cmd {
	cmd := exec.Command("docker", append([]string{"--host", n.Engine.Host}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+s.config)
	return cmd
}

// Docker runs the docker command on node n and returns its trimmed output.
func (s *Swarm) Docker(n *Node, args ...string) (string, error) {
	b, err := s.DockerCmd(n, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker on %s: %s: %v\n%s", n.Name, strings.Join(args, " "), err, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// Stop makes every node leave, stops the engines and removes the switch
// and the directory.
func (s *Swarm) Stop() {
	for _, n := range s.Nodes {
		_ = s.DockerCmd(n, "swarm", "leave", "--force").Run()
	}
	for _, n := range s.Nodes {
		n.Engine.Stop()
	}
	if s.Switch != nil {
		s.Switch.Close()
	}
	os.RemoveAll(s.dir)
}
