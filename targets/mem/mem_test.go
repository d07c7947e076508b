package mem_test

import (
	"testing"

	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
	"github.com/lifeboat-backup/lifeboat/internal/targettest"
)

func TestConformance(t *testing.T) {
	targettest.Run(t, func(t *testing.T) targets.Target { return mem.New() })
}
