package swarm

import (
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
)

func TestThreeNodes(t *testing.T) {
	treetest.RequireRoot(t)
	s := clitest.NewSwarm(t, 3)
	out := s.Docker(s.Manager(), "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
	t.Log(out)
	if !strings.Contains(out, "node-3 Ready") {
		t.Fatal(out)
	}
}
