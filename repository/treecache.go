package repository

import (
	"context"
	"fmt"
	"sync"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// treePackCache keeps the sealed bytes of recently read tree packs, so
// that walking a snapshot reads each tree pack once instead of making one
// request per directory (which dominates on a remote store). Tree packs
// hold only directory listings and are small.
type treePackCache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	order []pack.ID // oldest first
	packs map[pack.ID][]byte
	// loading dedupes concurrent reads of one pack.
	loading map[pack.ID]*sync.WaitGroup
}

const treeCacheBytes = 64 << 20

func newTreePackCache(limit int64) *treePackCache {
	return &treePackCache{limit: limit, packs: map[pack.ID][]byte{}, loading: map[pack.ID]*sync.WaitGroup{}}
}

// sealedTree returns a copy of the sealed bytes of a tree blob, reading its
// whole pack (up to the end of its last indexed blob) on a miss.
func (r *Repository) sealedTree(ctx context.Context, p pack.ID, e pack.Entry) ([]byte, error) {
	c := r.trees
	for {
		c.mu.Lock()
		if data, ok := c.packs[p]; ok {
			c.mu.Unlock()
			if int64(e.Offset)+int64(e.Length) > int64(len(data)) {
				break // indexed after the pack was cached; read directly
			}
			return append([]byte(nil), data[e.Offset:e.Offset+e.Length]...), nil
		}
		if wg, ok := c.loading[p]; ok {
			c.mu.Unlock()
			wg.Wait()
			continue
		}
		end := r.idx.BlobsEnd(p)
		if end > c.limit/4 {
			c.mu.Unlock()
			break // too large to be worth caching
		}
		wg := &sync.WaitGroup{}
		wg.Add(1)
		c.loading[p] = wg
		c.mu.Unlock()
		data, err := targets.ReadRange(ctx, r.target, PackName(p), 0, end)
		c.mu.Lock()
		delete(c.loading, p)
		if err == nil {
			c.put(p, data)
		}
		c.mu.Unlock()
		wg.Done()
		if err != nil {
			return nil, fmt.Errorf("tree blob %s in pack %s: %w", e.ID.Short(), p.Short(), err)
		}
	}
	return targets.ReadRange(ctx, r.target, PackName(p), int64(e.Offset), int64(e.Length))
}

// put adds a pack, evicting the oldest ones over the limit. mu is held.
func (c *treePackCache) put(p pack.ID, data []byte) {
	c.packs[p] = data
	c.order = append(c.order, p)
	c.size += int64(len(data))
	for c.size > c.limit && len(c.order) > 1 {
		old := c.order[0]
		c.order = c.order[1:]
		c.size -= int64(len(c.packs[old]))
		delete(c.packs, old)
	}
}
