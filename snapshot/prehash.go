package snapshot

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"golang.org/x/sys/unix"
)

// prehasher hashes, on worker goroutines, the chunks the guide is about to
// propose, at the offsets they take if the file keeps the guide's current
// shift (content changed in place, the common case for a large file), so
// that checking an unchanged chunk waits for a hash computed beside the
// cutter instead of computing it on the cutter's goroutine. A file that
// changed in scattered pages is then checked at the speed of every core
// rather than of one, and the chunker's work on the changed chunks runs
// beside the hashing of the next ones.
//
// The hashes are of the file's current bytes at the offsets the cutter
// checks: a result is used only for the chunk and offset it was computed
// for, so the blobs are exactly those of the serial check. A chunk whose
// pages fault (the file truncated while mapped) is hashed only up to the
// fault: the cutter hashes the rest on its own goroutine, which turns the
// fault into errShrunk.
//
// All methods but the workers' are called on the cutter's goroutine.
type prehasher struct {
	data  []byte
	g     *guide
	hash  func([]byte) pack.ID
	jobs  chan *prehash
	slots map[int]*prehash // by the previous version's chunk index
	next  int              // the next chunk to hand to the workers
	shift int64            // the guide's shift when next was set
	wg    sync.WaitGroup
}

// prehash is one chunk's hashing.
type prehash struct {
	off  int
	lens []int
	ids  []pack.ID     // of the blobs from off on, up to a fault
	skip atomic.Bool   // no longer wanted: a worker need not hash it
	done chan struct{} // closed when ids are set
}

// Bounds of the work handed out ahead of the cutter: in bytes, half the
// readahead window (within what the kernel is reading anyway), and in
// chunks.
const (
	prehashWindow = readAheadWindow / 2
	prehashSlots  = 64
)

// newPrehasher starts the workers; close stops them.
func newPrehasher(data []byte, g *guide, hash func([]byte) pack.ID) *prehasher {
	p := &prehasher{data: data, g: g, hash: hash, jobs: make(chan *prehash, prehashSlots),
		slots: map[int]*prehash{}, next: g.next, shift: g.shift}
	for range max(1, runtime.GOMAXPROCS(0)) {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

func (p *prehasher) work() {
	defer p.wg.Done()
	debug.SetPanicOnFault(true) // this goroutine's own setting, for its life
	for h := range p.jobs {
		if !h.skip.Load() {
			p.hashChunk(h)
		}
		close(h.done)
	}
}

func (p *prehasher) hashChunk(h *prehash) {
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
		}
	}()
	off := h.off
	for _, n := range h.lens {
		h.ids = append(h.ids, p.hash(p.data[off:off+n]))
		off += n
	}
	// The cutter takes an unchanged chunk without reading it: drop its
	// pages from this process's mapping (they stay in the page cache, and
	// a changed chunk's are mapped again when the cutter copies them), so
	// that hashing ahead does not grow the resident memory.
	page := os.Getpagesize()
	if from, to := (h.off+page-1)&^(page-1), off&^(page-1); from < to {
		_ = unix.Madvise(p.data[from:to], unix.MADV_DONTNEED)
	}
}

// fill hands the workers the chunks the guide would propose next, up to
// prehashWindow bytes past pos. When the guide lost its place there is
// nothing to expect; when it found it again elsewhere (or with another
// shift), what was handed out for the old place is dropped.
func (p *prehasher) fill(pos int) {
	g := p.g
	if g.next < 0 {
		return
	}
	if g.shift != p.shift || (p.slots[g.next] == nil && g.next != p.next) {
		p.drop(func(int) bool { return true })
		p.next, p.shift = g.next, g.shift
	}
	for ; p.next < len(g.ends) && len(p.slots) < prehashSlots; p.next++ {
		k := p.next
		start := int64(0)
		if k > 0 {
			start = g.ends[k-1]
		}
		off, end := start+p.shift, g.ends[k]+p.shift
		if off < 0 || end > int64(len(p.data)) || off >= int64(pos)+prehashWindow {
			return
		}
		h := &prehash{off: int(off), lens: g.lens[g.chunks[k]:g.chunks[k+1]], done: make(chan struct{})}
		p.slots[k] = h
		p.jobs <- h // blocks only while the workers are behind
	}
}

// take returns the hashes of the previous version's chunk k's blobs at
// offset pos of the file, if they were handed out for that offset (up to
// a fault: perhaps fewer than the chunk's blobs); nil otherwise. The chunks before k are no longer wanted.
func (p *prehasher) take(k, pos int) []pack.ID {
	h := p.slots[k]
	delete(p.slots, k)
	p.drop(func(j int) bool { return j < k })
	if h == nil {
		return nil
	}
	if h.off != pos {
		h.skip.Store(true)
		return nil
	}
	<-h.done
	return h.ids
}

// drop gives up the slots whose chunk index matches.
func (p *prehasher) drop(match func(int) bool) {
	for k, h := range p.slots {
		if match(k) {
			h.skip.Store(true)
			delete(p.slots, k)
		}
	}
}

// close stops the workers and waits for them: the mapping they read can
// be unmapped once it returns.
func (p *prehasher) close() {
	p.drop(func(int) bool { return true })
	close(p.jobs)
	p.wg.Wait()
}
