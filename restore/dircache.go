package restore

import (
	"container/list"
	"os"
	"sync"
)

// dirCache shares open directory handles between the workers of a restore,
// so that each of thousands of files in a directory does not walk the
// path through os.Root again. Handles in use are never closed; idle ones
// beyond the limit are, oldest first.
type dirCache struct {
	root  *os.Root
	limit int
	mu    sync.Mutex
	dirs  map[string]*cachedDir
	idle  *list.List // of *cachedDir with refs == 0, least recently used first
}

type cachedDir struct {
	rel  string
	h    *dirHandle
	refs int
	elem *list.Element
}

func newDirCache(root *os.Root, limit int) *dirCache {
	return &dirCache{root: root, limit: limit, dirs: map[string]*cachedDir{}, idle: list.New()}
}

// get returns an open handle for rel; release must be called when done.
func (c *dirCache) get(rel string) (*dirHandle, func(), error) {
	c.mu.Lock()
	if d, ok := c.dirs[rel]; ok {
		if d.elem != nil {
			c.idle.Remove(d.elem)
			d.elem = nil
		}
		d.refs++
		c.mu.Unlock()
		return d.h, func() { c.release(d) }, nil
	}
	c.mu.Unlock()
	h, err := openDir(c.root, rel)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.dirs[rel]; ok { // opened meanwhile by another worker
		h.close()
		if d.elem != nil {
			c.idle.Remove(d.elem)
			d.elem = nil
		}
		d.refs++
		return d.h, func() { c.release(d) }, nil
	}
	d := &cachedDir{rel: rel, h: h, refs: 1}
	c.dirs[rel] = d
	return h, func() { c.release(d) }, nil
}

func (c *dirCache) release(d *cachedDir) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d.refs--
	if d.refs > 0 {
		return
	}
	d.elem = c.idle.PushBack(d)
	for c.idle.Len() > c.limit {
		old := c.idle.Remove(c.idle.Front()).(*cachedDir)
		old.elem = nil
		delete(c.dirs, old.rel)
		old.h.close()
	}
}

// close closes every handle; none may be in use.
func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for rel, d := range c.dirs {
		d.h.close()
		delete(c.dirs, rel)
	}
	c.idle.Init()
}
