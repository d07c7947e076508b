// Package swarm tests lifeboat on a swarm of three engines on this
// machine (clitest.NewSwarm): the fleet example deployed on every node,
// and services that move between nodes.
package swarm

import (
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
)

// lb is the lifeboat executable this package's tests run.
var lb *clitest.Lifeboat

func TestMain(m *testing.M) { clitest.Main(m, "swarm", func(b *clitest.Lifeboat) { lb = b }) }
