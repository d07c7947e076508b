package dockerd

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Subnet is the switch's network: a node attached as n has the address
// Subnet.n, the switch itself Subnet.254. It exists only inside the
// namespaces of the switch and of its nodes.
const Subnet = "10.213.0"

// Switch is a network namespace of its own holding a bridge that joins
// engines' namespaces, for a cluster of engines on one machine: each is
// attached with a veth pair and an address of the switch's subnet, so that
// they and the servers run in the switch (Command) reach one another there
// and nothing else is addressed (iproute2).
type Switch struct {
	Name string // the namespace, under /run/netns
	tag  string // unique part of interface names
}

// NewSwitch makes the namespace and its bridge, at Subnet.254.
func NewSwitch() (*Switch, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("ip (iproute2) is needed for a switch: %w", ErrMissing)
	}
	s := &Switch{Name: fmt.Sprintf("lbsw-%d", os.Getpid()), tag: strconv.Itoa(os.Getpid() % 100000)}
	if err := ip("netns", "add", s.Name); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "br0", "type", "bridge"},
		// A bridge takes the lowest MAC address of its ports unless it has
		// one of its own: when a node's port went away with the node, the
		// others' ARP entries for Subnet.254 named a MAC address no longer
		// there, and their connections to the switch's servers timed out.
		{"link", "set", "br0", "address", "02:00:0a:d5:00:fe"},
		{"addr", "add", Subnet + ".254/24", "dev", "br0"},
		{"link", "set", "br0", "up"},
	} {
		if err := ip(append([]string{"-n", s.Name}, args...)...); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Attach joins e's network namespace to the switch as node n (1 to 253):
// its interface eth-lb gets the address Subnet.n, which it returns.
func (s *Switch) Attach(e *Engine, n int) (string, error) {
	if n < 1 || n > 253 {
		return "", fmt.Errorf("node number %d: give 1 to 253", n)
	}
	outer, inner := fmt.Sprintf("lb%s-%d", s.tag, n), fmt.Sprintf("lb%s-%dn", s.tag, n)
	addr := fmt.Sprintf("%s.%d", Subnet, n)
	pid := strconv.Itoa(e.Pid())
	for _, args := range [][]string{
		{"link", "add", outer, "type", "veth", "peer", "name", inner},
		{"link", "set", outer, "netns", s.Name},
		{"link", "set", inner, "netns", pid},
		{"-n", s.Name, "link", "set", outer, "master", "br0"},
		{"-n", s.Name, "link", "set", outer, "up"},
	} {
		if err := ip(args...); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{
		{"link", "set", inner, "name", "eth-lb"},
		{"addr", "add", addr + "/24", "dev", "eth-lb"},
		{"link", "set", "eth-lb", "up"},
		{"link", "set", "lo", "up"},
	} {
		if out, err := e.Command("ip", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ip %s in the engine's namespace: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return addr, nil
}

// Command prepares a command that runs in the switch's namespace, where
// it reaches every attached node and is reached at Subnet.254.
func (s *Switch) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", s.Name, name}, args...)...)
}

// Close removes the namespace; its bridge and the veth pairs go with it
// (a node's end goes when its own namespace does).
func (s *Switch) Close() {
	_ = ip("netns", "delete", s.Name)
}

func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
