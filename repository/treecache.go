package repository

import (
	"context"
	"fmt"
	"slices"
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
	local map[pack.ID]bool // the packs read from the local cache
	// loading dedupes concurrent reads of one pack.
	loading map[pack.ID]*sync.WaitGroup
}

const treeCacheBytes = 64 << 20

func newTreePackCache(limit int64) *treePackCache {
	return &treePackCache{limit: limit, packs: map[pack.ID][]byte{}, local: map[pack.ID]bool{}, loading: map[pack.ID]*sync.WaitGroup{}}
}

// sealedTree returns a copy of the sealed bytes of a tree blob, reading its
// whole pack (up to the end of its last indexed blob) on a miss, from the
// local cache when it holds it. cached says the bytes came from the local
// cache, unchecked: if they fail their check, LoadBlob reads them again
// from the repository.
func (r *Repository) sealedTree(ctx context.Context, p pack.ID, e pack.Entry) (sealed []byte, cached bool, err error) {
	c := r.trees
	for {
		c.mu.Lock()
		if data, ok := c.packs[p]; ok {
			local := c.local[p]
			c.mu.Unlock()
			if int64(e.Offset)+int64(e.Length) > int64(len(data)) {
				break // indexed after the pack was cached; read directly
			}
			return append([]byte(nil), data[e.Offset:e.Offset+e.Length]...), local, nil
		}
		if wg, ok := c.loading[p]; ok {
			c.mu.Unlock()
			wg.Wait()
			continue
		}
		end := r.idx.BlobsEnd(p)
		if end == 0 || end > c.limit/4 {
			c.mu.Unlock()
			break // not indexed (a marked pack), or too large to be worth caching
		}
		wg := &sync.WaitGroup{}
		wg.Add(1)
		c.loading[p] = wg
		c.mu.Unlock()
		data, local, err := r.readTreePack(ctx, p, end)
		c.mu.Lock()
		delete(c.loading, p)
		if err == nil {
			c.put(p, data, local)
		}
		c.mu.Unlock()
		wg.Done()
		if err != nil {
			return nil, false, fmt.Errorf("tree blob %s in pack %s: %w", e.ID.Short(), p.Short(), err)
		}
	}
	sealed, err = targets.ReadRange(ctx, r.target, PackName(p), int64(e.Offset), int64(e.Length))
	return sealed, false, err
}

// readTreePack reads the first end bytes of tree pack p: from the local
// cache when it holds them (local), else from the repository, keeping a
// copy.
func (r *Repository) readTreePack(ctx context.Context, p pack.ID, end int64) (data []byte, local bool, err error) {
	if b, ok := r.cache.treePack(p); ok && int64(len(b)) >= end {
		return b[:end], true, nil
	}
	data, err = targets.ReadRange(ctx, r.target, PackName(p), 0, end)
	if err == nil {
		r.cache.putTreePack(p, data)
	}
	return data, false, err
}

// forgetTreePack drops tree pack p from memory and from the local cache:
// a tree read from the local copy failed its check.
func (r *Repository) forgetTreePack(p pack.ID) {
	c := r.trees
	c.mu.Lock()
	if data, ok := c.packs[p]; ok {
		c.size -= int64(len(data))
		delete(c.packs, p)
		delete(c.local, p)
		c.order = slices.DeleteFunc(c.order, func(q pack.ID) bool { return q == p })
	}
	c.mu.Unlock()
	r.cache.dropTreePack(p)
}

// put adds a pack (local: read from the local cache), evicting the
// oldest ones over the limit. mu is held.
func (c *treePackCache) put(p pack.ID, data []byte, local bool) {
	c.packs[p] = data
	if local {
		c.local[p] = true
	}
	c.order = append(c.order, p)
	c.size += int64(len(data))
	for c.size > c.limit && len(c.order) > 1 {
		old := c.order[0]
		c.order = c.order[1:]
		c.size -= int64(len(c.packs[old]))
		delete(c.packs, old)
		delete(c.local, old)
	}
}
