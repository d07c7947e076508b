package mem_test

import (
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/targettest"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

func TestConformance(t *testing.T) {
	targettest.Run(t, func(t *testing.T) targets.Target { return mem.New() })
}
