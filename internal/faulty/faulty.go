// Package faulty is a fault-injecting target for tests: it wraps another
// target and, at configurable rates, fails requests with transient errors
// or dropped connections, loses the reply of a completed Put, cuts reads
// short, or slows every call down.
package faulty

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lifeboat-backup/lifeboat/targets"
)

// ErrInjected is wrapped by every injected failure.
var ErrInjected = fmt.Errorf("injected fault")

// Config sets the fault rates (0 to 1) and delay.
type Config struct {
	Seed          uint64
	ErrorRate     float64       // fail a call before it reaches the store
	LostReplyRate float64       // Put: store the object, then report a dropped connection
	ShortReadRate float64       // Get: end the body early with io.ErrUnexpectedEOF
	Delay         time.Duration // added to every call
	// Hook, if set, is called before every call reaches the store (after
	// Delay) with the operation ("put", "get", "stat", "list", "delete")
	// and the name or prefix. A non-nil error fails the call; a hook may
	// also block, for a test that orders calls of several processes.
	Hook func(ctx context.Context, op, name string) error
}

// Target injects faults into calls to an inner target.
type Target struct {
	inner targets.Target
	cfg   Config
	mu    sync.Mutex
	rng   *rand.Rand

	Injected atomic.Int64 // faults injected so far
}

// New wraps inner.
func New(inner targets.Target, cfg Config) *Target {
	return &Target{inner: inner, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 1))}
}

func (t *Target) roll(rate float64) bool {
	if rate <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rng.Float64() < rate
}

// before delays, honours ctx, and may fail the call.
func (t *Target) before(ctx context.Context, op, name string) error {
	if t.cfg.Delay > 0 {
		select {
		case <-time.After(t.cfg.Delay):
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.cfg.Hook != nil {
		if err := t.cfg.Hook(ctx, op, name); err != nil {
			t.Injected.Add(1)
			return fmt.Errorf("%s %s: %w: %w", op, name, ErrInjected, err)
		}
	}
	if t.roll(t.cfg.ErrorRate) {
		t.Injected.Add(1)
		if t.roll(0.5) {
			return fmt.Errorf("%s %s: %w: %w", op, name, ErrInjected, syscall.ECONNRESET)
		}
		return fmt.Errorf("%s %s: %w: 503 SlowDown: %w", op, name, ErrInjected, targets.ErrTransient)
	}
	return nil
}

// Location is the inner target's.
func (t *Target) Location() string { return "faulty:" + t.inner.Location() }

// Close closes the inner target.
func (t *Target) Close() error { return t.inner.Close() }

// Put may fail before storing, or store and then lose the reply.
func (t *Target) Put(ctx context.Context, name string, data []byte) error {
	if err := t.before(ctx, "put", name); err != nil {
		return err
	}
	if err := t.inner.Put(ctx, name, data); err != nil {
		return err
	}
	if t.roll(t.cfg.LostReplyRate) {
		t.Injected.Add(1)
		return fmt.Errorf("put %s: %w: reply lost: %w", name, ErrInjected, syscall.ECONNRESET)
	}
	return nil
}

// PutIfAbsent may fail before storing.
func (t *Target) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	if err := t.before(ctx, "put", name); err != nil {
		return err
	}
	if c, ok := t.inner.(targets.Creator); ok {
		return c.PutIfAbsent(ctx, name, data)
	}
	return t.inner.Put(ctx, name, data)
}

// PutFile may fail before storing, or store and then lose the reply.
func (t *Target) PutFile(ctx context.Context, name, path string) error {
	if err := t.before(ctx, "put", name); err != nil {
		return err
	}
	if err := targets.PutFile(ctx, t.inner, name, path); err != nil {
		return err
	}
	if t.roll(t.cfg.LostReplyRate) {
		t.Injected.Add(1)
		return fmt.Errorf("put %s: %w: reply lost: %w", name, ErrInjected, syscall.ECONNRESET)
	}
	return nil
}

// Get may fail, or return a body that ends early.
func (t *Target) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := t.before(ctx, "get", name); err != nil {
		return nil, err
	}
	rc, err := t.inner.Get(ctx, name, offset, length)
	if err != nil {
		return nil, err
	}
	if t.roll(t.cfg.ShortReadRate) {
		t.Injected.Add(1)
		return &shortReader{rc: rc}, nil
	}
	return rc, nil
}

type shortReader struct {
	rc   io.ReadCloser
	read int
}

func (s *shortReader) Read(p []byte) (int, error) {
	if s.read > 0 {
		return 0, fmt.Errorf("%w: connection dropped mid-body: %w", ErrInjected, io.ErrUnexpectedEOF)
	}
	if len(p) > 1 {
		p = p[:len(p)/2]
	}
	n, err := s.rc.Read(p)
	s.read += n
	if err == io.EOF {
		return n, fmt.Errorf("%w: connection dropped mid-body: %w", ErrInjected, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (s *shortReader) Close() error { return s.rc.Close() }

// Stat may fail.
func (t *Target) Stat(ctx context.Context, name string) (targets.Info, error) {
	if err := t.before(ctx, "stat", name); err != nil {
		return targets.Info{}, err
	}
	return t.inner.Stat(ctx, name)
}

// List may fail before listing.
func (t *Target) List(ctx context.Context, prefix string, fn func(targets.Info) error) error {
	if err := t.before(ctx, "list", prefix); err != nil {
		return err
	}
	return t.inner.List(ctx, prefix, fn)
}

// Delete may fail before deleting.
func (t *Target) Delete(ctx context.Context, name string) error {
	if err := t.before(ctx, "delete", name); err != nil {
		return err
	}
	return t.inner.Delete(ctx, name)
}

var (
	_ targets.Target     = (*Target)(nil)
	_ targets.Creator    = (*Target)(nil)
	_ targets.FilePutter = (*Target)(nil)
)
