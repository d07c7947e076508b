package workers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestForEachRunsAllWithinLimit(t *testing.T) {
	var running, peak, done atomic.Int64
	err := ForEach(context.Background(), 100, 3, func(ctx context.Context, i int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		done.Add(1)
		running.Add(-1)
		return nil
	})
	if err != nil || done.Load() != 100 || peak.Load() > 3 {
		t.Fatalf("err %v, done %d, peak %d", err, done.Load(), peak.Load())
	}
}

func TestForEachStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	// Jobs after the failing one wait for the cancellation, so how many
	// start does not depend on how the goroutines are scheduled: 0-5, and
	// at most one more on the other worker.
	err := ForEach(context.Background(), 1000, 2, func(ctx context.Context, i int) error {
		calls.Add(1)
		if i == 5 {
			return boom
		}
		if i > 5 {
			<-ctx.Done()
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() < 6 || calls.Load() > 7 {
		t.Fatalf("err %v after %d calls", err, calls.Load())
	}
}

func TestForEachCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ForEach(ctx, 10, 2, func(context.Context, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}
