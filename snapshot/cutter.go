package snapshot

import (
	"errors"
	"io"
	"os"
	"runtime/debug"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/restic/chunker"
	"golang.org/x/sys/unix"
)

// cutter yields a file's content-defined chunks.
type cutter interface {
	next(buf []byte) (chunk, error) // io.EOF after the last chunk
	close()
}

// chunk is one cut of a file.
type chunk struct {
	data   []byte  // the content, copied into the caller's buffer; nil if stored
	length int     // of the content
	id     pack.ID // the keyed hash of data, if hashed
	hashed bool
	stored bool // found through the guide: the repository has it, data is nil
}

// readCutter cuts what it reads with the chunker (used for files too small
// to be worth mapping, and where mapping fails).
type readCutter struct{ ch *chunker.Chunker }

func (r readCutter) next(buf []byte) (chunk, error) {
	c, err := r.ch.Next(buf)
	return chunk{data: c.Data, length: len(c.Data)}, err
}

func (readCutter) close() {}

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
// With a guide (the file's chunks in the parent snapshot), each chunk the
// guide proposes is checked by its keyed hash and taken without cutting;
// every chunk is then hashed here, as the guide needs the ids of the
// chunks the chunker cuts to find its place again.
type mapCutter struct {
	data     []byte
	pos      int
	released int // pages before this offset are dropped from our mapping
	base     *chunker.BaseChunker
	onFault  bool // SetPanicOnFault before we set it
	guide    *guide
	hash     func([]byte) pack.ID
}

func newMapCutter(f *os.File, size int64, cfg repository.Config, g *guide, hash func([]byte) pack.ID) (*mapCutter, error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	_ = unix.Madvise(data, unix.MADV_WILLNEED)
	return &mapCutter{
		data: data,
		base: chunker.NewBase(cfg.ChunkerPolynomial, chunker.WithBaseBoundaries(cfg.MinChunkSize, cfg.MaxChunkSize),
			chunker.WithBaseAverageBits(cfg.AverageChunkBits)),
		onFault: debug.SetPanicOnFault(true),
		guide:   g,
		hash:    hash,
	}, nil
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
	rest := m.data[m.pos:]
	if m.guide != nil {
		if id, n, ok := m.guide.propose(int64(m.pos), int64(len(m.data))); ok && m.hash(rest[:n]) == id {
			m.guide.matched()
			m.advance(n)
			return chunk{length: n, id: id, hashed: true, stored: true}, nil
		}
	}
	n := m.base.NextSplitPoint(rest)
	if n < 0 {
		n = len(rest) // no boundary before the end: the last chunk
	}
	c = chunk{data: append(buf[:0], rest[:n]...), length: n}
	if m.guide != nil {
		// Hash the copy, which is what will be saved.
		c.id, c.hashed = m.hash(c.data), true
		m.guide.cut(int64(m.pos+n), c.id)
	}
	m.advance(n)
	return c, nil
}

// advance moves past n bytes, dropping the pages already cut from this
// process's mapping (they stay in the page cache), so that resident memory
// stays small however large the file.
func (m *mapCutter) advance(n int) {
	m.pos += n
	const step = 8 << 20
	if end := m.pos &^ (os.Getpagesize() - 1); end-m.released >= step {
		_ = unix.Madvise(m.data[m.released:end], unix.MADV_DONTNEED)
		m.released = end
	}
}

func (m *mapCutter) close() {
	_ = unix.Munmap(m.data)
	debug.SetPanicOnFault(m.onFault)
}
