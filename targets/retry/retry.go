// Package retry wraps a target so that transient failures (throttling,
// server errors, timeouts, dropped connections, short reads) are retried
// with exponential backoff, while permanent ones (permission, missing
// objects or buckets, bad requests) fail at once. Backoff stops as soon as
// the context is cancelled.
package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/lifeboat-backup/lifeboat/targets"
)

// Retryable decides whether err is worth another attempt. Sentinel
// permanent errors and cancellation never are; errors a target marked
// transient and network-level failures (timeouts, resets, refused or
// unexpected EOF) are.
func Retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, targets.ErrNotFound), errors.Is(err, targets.ErrAlreadyExists),
		errors.Is(err, targets.ErrPermission), errors.Is(err, targets.ErrNoSpace):
		return false
	case errors.Is(err, targets.ErrTransient):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	}
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		return true
	}
	return isNetworkError(err)
}

// Policy says how often and how patiently to retry.
type Policy struct {
	Attempts int           // total attempts, at least 1
	Base     time.Duration // first backoff; doubles each time
	Max      time.Duration // backoff ceiling
	// Sleep waits for d or until ctx ends (injected by tests).
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultPolicy: 8 attempts, 250 ms doubling to at most 8 s (12 to 24 s of
// waiting in all, with jitter): a store that restarts for a few seconds does
// not fail a backup, and an unreachable one fails within half a minute.
func DefaultPolicy() Policy {
	return Policy{Attempts: 8, Base: 250 * time.Millisecond, Max: 8 * time.Second, Sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Do runs op until it succeeds, fails permanently, or runs out of attempts.
func (p Policy) Do(ctx context.Context, what string, op func() error) error {
	var err error
	for attempt := 0; attempt < max(p.Attempts, 1); attempt++ {
		if attempt > 0 {
			d := p.Base << (attempt - 1)
			if d > p.Max || d <= 0 {
				d = p.Max
			}
			d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1)) // jitter
			if serr := p.Sleep(ctx, d); serr != nil {
				return fmt.Errorf("%s: %w (gave up: %v)", what, err, serr)
			}
		}
		if err = op(); !Retryable(err) {
			return err
		}
	}
	if p.Attempts <= 1 {
		return err
	}
	return fmt.Errorf("%s: giving up after %d attempts: %w", what, p.Attempts, err)
}

// Target retries the operations of another target.
type Target struct {
	inner  targets.Target
	policy Policy
}

// Wrap adds retries to t.
func Wrap(t targets.Target, p Policy) *Target { return &Target{inner: t, policy: p} }

// Location is the inner target's.
func (t *Target) Location() string { return t.inner.Location() }

// Close closes the inner target.
func (t *Target) Close() error { return t.inner.Close() }

// Put retries with the same bytes, so every attempt sends the whole object.
func (t *Target) Put(ctx context.Context, name string, data []byte) error {
	return t.policy.Do(ctx, "put "+name, func() error { return t.inner.Put(ctx, name, data) })
}

// PutIfAbsent retries too; an attempt whose reply was lost but that did
// store the object shows as ErrAlreadyExists on the next attempt, which the
// caller can resolve by reading it back.
func (t *Target) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	c, ok := t.inner.(targets.Creator)
	if !ok {
		return t.Put(ctx, name, data)
	}
	return t.policy.Do(ctx, "put "+name, func() error { return c.PutIfAbsent(ctx, name, data) })
}

// PutFile retries; every attempt reads the file from its start.
func (t *Target) PutFile(ctx context.Context, name, path string) error {
	return t.policy.Do(ctx, "put "+name, func() error { return targets.PutFile(ctx, t.inner, name, path) })
}

// Get reads the whole range inside the retry loop, so that a connection
// dropped mid-body is retried too; the caller reads from memory.
func (t *Target) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	var data []byte
	err := t.policy.Do(ctx, "get "+name, func() error {
		var err error
		data, err = targets.ReadRange(ctx, t.inner, name, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Stat retries.
func (t *Target) Stat(ctx context.Context, name string) (fi targets.Info, err error) {
	err = t.policy.Do(ctx, "stat "+name, func() error {
		fi, err = t.inner.Stat(ctx, name)
		return err
	})
	return fi, err
}

// List retries a listing from the start, never calling fn twice for a
// name.
func (t *Target) List(ctx context.Context, prefix string, fn func(targets.Info) error) error {
	seen := map[string]bool{}
	var fnErr error
	return t.policy.Do(ctx, "list "+prefix, func() error {
		err := t.inner.List(ctx, prefix, func(fi targets.Info) error {
			if seen[fi.Name] {
				return nil
			}
			seen[fi.Name] = true
			if fnErr = fn(fi); fnErr != nil {
				return fnErr
			}
			return nil
		})
		if fnErr != nil {
			return fnErr // the caller's error: never retried
		}
		return err
	})
}

// Delete retries.
func (t *Target) Delete(ctx context.Context, name string) error {
	return t.policy.Do(ctx, "delete "+name, func() error { return t.inner.Delete(ctx, name) })
}

var (
	_ targets.Target     = (*Target)(nil)
	_ targets.Creator    = (*Target)(nil)
	_ targets.FilePutter = (*Target)(nil)
)
