package limit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/faulty"
	"github.com/lifeboat-backup/lifeboat/internal/targettest"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

func TestConformance(t *testing.T) {
	targettest.Run(t, func(t *testing.T) targets.Target { return Wrap(mem.New(), 3) })
}

// counting records the most calls in flight at once.
type counting struct {
	targets.Target
	now, peak atomic.Int64
}

func (c *counting) Put(ctx context.Context, name string, data []byte) error {
	n := c.now.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	defer c.now.Add(-1)
	return c.Target.Put(ctx, name, data)
}

func TestBoundsConcurrency(t *testing.T) {
	inner := &counting{Target: faulty.New(mem.New(), faulty.Config{Delay: 2 * time.Millisecond})}
	lt := Wrap(inner, 3)
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_ = lt.Put(context.Background(), "x", []byte{byte(i)})
		}(i)
	}
	wg.Wait()
	if p := inner.peak.Load(); p > 3 || p < 2 {
		t.Fatalf("peak %d calls in flight, want at most 3", p)
	}
}
