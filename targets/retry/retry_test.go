package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/faulty"
	"github.com/lifeboat-backup/lifeboat/internal/targettest"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestRetryable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), false},
		{fmt.Errorf("x: %w", targets.ErrNotFound), false},
		{fmt.Errorf("403: %w", targets.ErrPermission), false},
		{targets.ErrAlreadyExists, false},
		{targets.ErrNoSpace, false},
		{fmt.Errorf("SlowDown: %w", targets.ErrTransient), true},
		{fmt.Errorf("503: %w", targets.ErrTransient), true},
		{io.ErrUnexpectedEOF, true},
		{timeoutErr{}, true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{errors.New("400 bad request"), false},
	}
	for _, c := range cases {
		if got := Retryable(c.err); got != c.want {
			t.Errorf("Retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestDoStopsOnPermanentAndCancel(t *testing.T) {
	p := Policy{Attempts: 5, Base: time.Millisecond, Max: time.Millisecond, Sleep: noSleep}
	calls := 0
	err := p.Do(context.Background(), "op", func() error { calls++; return targets.ErrPermission })
	if calls != 1 || !errors.Is(err, targets.ErrPermission) {
		t.Fatalf("permanent: %d calls, %v", calls, err)
	}
	calls = 0
	err = p.Do(context.Background(), "op", func() error { calls++; return targets.ErrTransient })
	if calls != 5 || !errors.Is(err, targets.ErrTransient) {
		t.Fatalf("transient: %d calls, %v", calls, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.Sleep = sleepCtx
	p.Base, p.Max = time.Hour, time.Hour
	calls = 0
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	err = p.Do(ctx, "op", func() error { calls++; return targets.ErrTransient })
	if calls != 1 || !errors.Is(err, targets.ErrTransient) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel during backoff: %d calls, %v", calls, err)
	}
}

// The retrying target keeps the contract over a store that fails often.
func TestConformanceUnderFaults(t *testing.T) {
	targettest.Run(t, func(t *testing.T) targets.Target {
		f := faulty.New(mem.New(), faulty.Config{Seed: 7, ErrorRate: 0.2, ShortReadRate: 0.2})
		return Wrap(f, Policy{Attempts: 20, Base: time.Microsecond, Max: time.Microsecond, Sleep: noSleep})
	})
}

// The default policy waits long enough for a store that restarts (5 to 8 s
// were seen failing backups) and not much longer than half a minute.
func TestDefaultPolicyOutlastsARestart(t *testing.T) {
	p := DefaultPolicy()
	var waited time.Duration
	p.Sleep = func(_ context.Context, d time.Duration) error { waited += d; return nil }
	attempts := 0
	err := p.Do(context.Background(), "put x", func() error { attempts++; return targets.ErrTransient })
	if err == nil || attempts != p.Attempts {
		t.Fatalf("%d attempts, err %v", attempts, err)
	}
	if waited < 10*time.Second || waited > 30*time.Second {
		t.Fatalf("waited %s in all", waited)
	}
}
