// Package mem is an in-memory target for tests and for fault injection
// layers. It keeps the full targets.Target contract.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-backup/lifeboat/targets"
)

type object struct {
	data    []byte
	modTime time.Time
}

// Target holds objects in a map guarded by a mutex.
type Target struct {
	mu      sync.RWMutex
	objects map[string]object
	now     func() time.Time
}

var _ targets.Target = (*Target)(nil)
var _ targets.Creator = (*Target)(nil)

// New returns an empty in-memory target.
func New() *Target {
	return &Target{objects: map[string]object{}, now: time.Now}
}

// Location names the target in messages.
func (t *Target) Location() string { return "mem:" }

// Close does nothing.
func (t *Target) Close() error { return nil }

// Put stores a private copy of data.
func (t *Target) Put(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, name, data, false)
}

// PutIfAbsent stores data unless name is taken.
func (t *Target) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, name, data, true)
}

func (t *Target) put(ctx context.Context, name string, data []byte, exclusive bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("invalid object name %q", name)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.objects[name]; ok && exclusive {
		return fmt.Errorf("%s: %w", name, targets.ErrAlreadyExists)
	}
	t.objects[name] = object{data: bytes.Clone(data), modTime: t.now()}
	return nil
}

// Get returns a range of an object.
func (t *Target) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.RLock()
	o, ok := t.objects[name]
	t.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, targets.ErrNotFound)
	}
	size := int64(len(o.data))
	if offset < 0 || offset > size || (length >= 0 && offset+length > size) {
		return nil, fmt.Errorf("%s: range %d+%d, size %d: %w", name, offset, length, size, targets.ErrOutOfRange)
	}
	if length < 0 {
		length = size - offset
	}
	return io.NopCloser(bytes.NewReader(o.data[offset : offset+length])), nil
}

// Stat describes an object.
func (t *Target) Stat(ctx context.Context, name string) (targets.Info, error) {
	if err := ctx.Err(); err != nil {
		return targets.Info{}, err
	}
	t.mu.RLock()
	o, ok := t.objects[name]
	t.mu.RUnlock()
	if !ok {
		return targets.Info{}, fmt.Errorf("%s: %w", name, targets.ErrNotFound)
	}
	return targets.Info{Name: name, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// List calls fn for each object under prefix, in name order.
func (t *Target) List(ctx context.Context, prefix string, fn func(targets.Info) error) error {
	t.mu.RLock()
	var infos []targets.Info
	for name, o := range t.objects {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, targets.Info{Name: name, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	t.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	for _, fi := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(fi); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes an object.
func (t *Target) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	delete(t.objects, name)
	t.mu.Unlock()
	return nil
}

// Corrupt flips one byte of an object, for tests of damage detection.
func (t *Target) Corrupt(name string, offset int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.objects[name]
	if !ok || offset >= len(o.data) {
		return fmt.Errorf("corrupt %s@%d: %w", name, offset, targets.ErrNotFound)
	}
	o.data[offset] ^= 0xff
	return nil
}
