package snapshot

import (
	"errors"
	"io"
	"os"
	"runtime/debug"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"golang.org/x/sys/unix"
)

// cutter yields a file's content-defined chunks, or their pieces when the
// file is stored in pieces: a chunk of n bytes as the blobs of its bytes
// [0, piece), [piece, 2*piece), ... (docs/design.md, "Pieces").
type cutter interface {
	next(buf []byte) (chunk, error) // io.EOF after the last blob
	close()
}

// chunk is one blob of a file: a chunk, or a piece of one.
type chunk struct {
	data   []byte  // the content, copied into the caller's buffer; nil if stored
	length int     // of the content
	id     pack.ID // the keyed hash of data, if hashed
	hashed bool
	stored bool // found through the guide: the repository has it, data is nil
}

// readCutter cuts what it reads with the chunker (used for files too small
// to be worth mapping, and where mapping fails).
type readCutter struct {
	ch    *streamCutter
	piece int    // 0: whole chunks
	own   []byte // with pieces, the chunk being split
	rest  []byte // its pieces not yet returned
}

func (r *readCutter) next(buf []byte) (chunk, error) {
	if r.piece == 0 {
		data, err := r.ch.next(buf)
		return chunk{data: data, length: len(data)}, err
	}
	if len(r.rest) == 0 {
		data, err := r.ch.next(r.own)
		if err != nil {
			return chunk{}, err
		}
		r.own, r.rest = data[:0], data
	}
	n := min(r.piece, len(r.rest))
	data := append(buf[:0], r.rest[:n]...)
	r.rest = r.rest[n:]
	return chunk{data: data, length: n}, nil
}

func (*readCutter) close() {}

// mapThreshold is the size from which a file is mapped instead of read:
// the chunker then scans the page cache in place, saving the kernel's copy
// into a read buffer (about a third of the serial work on a large file).
const mapThreshold = 16 << 20

// errShrunk reports a mapped file that was truncated while being read.
var errShrunk = errors.New("file shrank while being read")

// mapCutter scans a read-only mapping of the file. A file truncated while
// mapped makes the next access fault; the fault is turned into errShrunk,
// which requires next to run on the goroutine that called newMapCutter.
//
// With a guide (the file's blobs in the parent snapshot), the blobs of each
// chunk the guide proposes are checked by their keyed hashes and taken
// without cutting, until one differs; then the chunker finds that chunk's
// end from its start. The proposed blobs are hashed ahead by a prehasher's
// workers; every blob the chunker cuts is hashed here, as the guide needs
// their ids to find its place again.
type mapCutter struct {
	data     []byte
	pos      int
	released int // pages before this offset are dropped from our mapping
	ahead    int // pages before this offset have been asked for (readahead)
	base     splitter
	onFault  bool // SetPanicOnFault before we set it
	piece    int  // 0: whole chunks
	guide    *guide
	hash     func([]byte) pack.ID
	pre      *prehasher // with a guide: its proposals hashed ahead

	start, end int       // the chunk being cut; end < 0 while not yet known
	first      pack.ID   // the id of its first blob
	proposal   []pack.ID // the guide's blobs for the rest of it, while they match
	lens       []int     // their lengths
	checked    []pack.ID // their hashes, if the prehasher had them
}

func newMapCutter(f *os.File, size int64, cfg repository.Config, piece int, g *guide, hash func([]byte) pack.ID) (*mapCutter, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	m := &mapCutter{
		data:    data,
		base:    newSplitter(cfg),
		onFault: debug.SetPanicOnFault(true),
		piece:   piece,
		guide:   g,
		hash:    hash,
	}
	if g != nil {
		m.pre = newPrehasher(data, g, hash)
	}
	m.readAhead()
	return m, nil
}

// readAheadWindow is how far ahead of the cut the file is asked for.
// Asking for a whole file at once (as this code did) makes the kernel read
// all of it into the page cache up front: for a file larger than the
// memory that evicts its own beginning before the cut gets there.
const readAheadWindow = 32 << 20

// readAhead asks the kernel for the window ahead of pos once half of it
// has been used.
func (m *mapCutter) readAhead() {
	if m.ahead >= len(m.data) || m.ahead-m.pos > readAheadWindow/2 {
		return
	}
	end := min(len(m.data), m.pos+readAheadWindow)
	start := m.ahead &^ (os.Getpagesize() - 1)
	_ = unix.Madvise(m.data[start:end], unix.MADV_WILLNEED)
	m.ahead = end
}

func (m *mapCutter) next(buf []byte) (c chunk, err error) {
	if m.pos >= len(m.data) {
		return chunk{}, io.EOF
	}
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			c, err = chunk{}, errShrunk
		}
	}()
	if m.pos == m.end { // a chunk starts here
		m.start, m.end, m.proposal, m.checked = m.pos, -1, nil, nil
		if m.guide != nil {
			k := m.guide.next
			m.proposal, m.lens, _ = m.guide.propose(int64(m.pos), int64(len(m.data)))
			if len(m.proposal) > 0 {
				m.pre.fill(m.pos)
				m.checked = m.pre.take(k, m.pos)
			}
		}
	}
	rest := m.data[m.pos:]
	if len(m.proposal) > 0 {
		id, n := m.proposal[0], m.lens[0]
		if n <= len(rest) && m.proposedHash(rest[:n]) == id {
			m.proposal, m.lens = m.proposal[1:], m.lens[1:]
			if m.pos == m.start {
				m.first = id
			}
			if len(m.proposal) == 0 {
				m.guide.matched()
				m.end = m.pos + n
			}
			m.advance(n)
			return chunk{length: n, id: id, hashed: true, stored: true}, nil
		}
		m.proposal, m.checked = nil, nil
	}
	if m.end < 0 {
		m.findEnd()
	}
	n := m.end - m.pos
	if m.piece > 0 {
		n = min(n, m.piece-(m.pos-m.start)%m.piece)
	}
	c = chunk{data: append(buf[:0], rest[:n]...), length: n}
	if m.guide != nil {
		// Hash the copy, which is what will be saved.
		c.id, c.hashed = m.hash(c.data), true
		if m.pos == m.start {
			m.first = c.id
		}
		if m.pos+n == m.end {
			m.guide.cut(int64(m.end), m.first)
		}
	}
	m.advance(n)
	return c, nil
}

// proposedHash is the hash of b, the bytes of the guide's next proposed
// blob: from the prehasher if it had them, else computed here.
func (m *mapCutter) proposedHash(b []byte) pack.ID {
	if len(m.checked) > 0 {
		id := m.checked[0]
		m.checked = m.checked[1:]
		return id
	}
	return m.hash(b)
}

// findEnd runs the chunker from the start of the chunk being cut. If the
// guide's blobs matched past a boundary (a chunk that is a whole number of
// pieces, taken together with the next), the chunk starting there is the
// one being cut: its blobs before pos are those the guide found.
func (m *mapCutter) findEnd() {
	for {
		n := m.base.NextSplitPoint(m.data[m.start:])
		if n < 0 {
			n = len(m.data) - m.start // no boundary before the end: the last chunk
		}
		if m.start+n > m.pos {
			m.end = m.start + n
			return
		}
		m.start, m.first = m.start+n, pack.ID{}
	}
}

// advance moves past n bytes, dropping the pages already cut from this
// process's mapping (they stay in the page cache), so that resident memory
// stays small however large the file.
func (m *mapCutter) advance(n int) {
	m.pos += n
	m.readAhead()
	const step = 8 << 20
	if end := m.pos &^ (os.Getpagesize() - 1); end-m.released >= step {
		_ = unix.Madvise(m.data[m.released:end], unix.MADV_DONTNEED)
		m.released = end
	}
}

func (m *mapCutter) close() {
	if m.pre != nil {
		m.pre.close() // its workers read the mapping
	}
	_ = unix.Munmap(m.data)
	debug.SetPanicOnFault(m.onFault)
}
