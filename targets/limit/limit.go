// Package limit bounds the number of calls in flight to a target, so that a
// backup opens at most that many connections to a store.
package limit

import (
	"context"
	"io"
	"sync"

	"github.com/lifeboat-backup/lifeboat/targets"
)

// Target admits at most n concurrent calls to an inner target. A Get holds
// its slot until its body is closed.
type Target struct {
	inner targets.Target
	slots chan struct{}
}

// Wrap limits t to n concurrent calls (n < 1 means 1).
func Wrap(t targets.Target, n int) *Target {
	return &Target{inner: t, slots: make(chan struct{}, max(n, 1))}
}

func (t *Target) acquire(ctx context.Context) error {
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *Target) release() { <-t.slots }

// Location is the inner target's.
func (t *Target) Location() string { return t.inner.Location() }

// Close closes the inner target.
func (t *Target) Close() error { return t.inner.Close() }

// Put waits for a slot.
func (t *Target) Put(ctx context.Context, name string, data []byte) error {
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	return t.inner.Put(ctx, name, data)
}

// PutIfAbsent waits for a slot.
func (t *Target) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	if c, ok := t.inner.(targets.Creator); ok {
		return c.PutIfAbsent(ctx, name, data)
	}
	return t.inner.Put(ctx, name, data)
}

// PutFile waits for a slot.
func (t *Target) PutFile(ctx context.Context, name, path string) error {
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	return targets.PutFile(ctx, t.inner, name, path)
}

// Get keeps the slot until the body is closed.
func (t *Target) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := t.acquire(ctx); err != nil {
		return nil, err
	}
	rc, err := t.inner.Get(ctx, name, offset, length)
	if err != nil {
		t.release()
		return nil, err
	}
	return &body{ReadCloser: rc, release: t.release}, nil
}

type body struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// Stat waits for a slot.
func (t *Target) Stat(ctx context.Context, name string) (targets.Info, error) {
	if err := t.acquire(ctx); err != nil {
		return targets.Info{}, err
	}
	defer t.release()
	return t.inner.Stat(ctx, name)
}

// List holds one slot for the whole listing.
func (t *Target) List(ctx context.Context, prefix string, fn func(targets.Info) error) error {
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	return t.inner.List(ctx, prefix, fn)
}

// Delete waits for a slot.
func (t *Target) Delete(ctx context.Context, name string) error {
	if err := t.acquire(ctx); err != nil {
		return err
	}
	defer t.release()
	return t.inner.Delete(ctx, name)
}

var (
	_ targets.Target     = (*Target)(nil)
	_ targets.Creator    = (*Target)(nil)
	_ targets.FilePutter = (*Target)(nil)
)
