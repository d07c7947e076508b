package snapshot

import (
	"errors"
	"io"
	"os"
	"runtime/debug"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/restic/chunker"
	"golang.org/x/sys/unix"
)

// cutter yields a file's content-defined chunks, each copied into buf.
type cutter interface {
	next(buf []byte) ([]byte, error) // io.EOF after the last chunk
	close()
}

// readCutter cuts what it reads with the chunker (used for files too small
// to be worth mapping, and where mapping fails).
type readCutter struct{ ch *chunker.Chunker }

func (r readCutter) next(buf []byte) ([]byte, error) {
	c, err := r.ch.Next(buf)
	return c.Data, err
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
type mapCutter struct {
	data     []byte
	pos      int
	released int // pages before this offset are dropped from our mapping
	base     *chunker.BaseChunker
	onFault  bool // SetPanicOnFault before we set it
}

func newMapCutter(f *os.File, size int64, cfg repository.Config) (*mapCutter, error) {
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
	}, nil
}

func (m *mapCutter) next(buf []byte) (out []byte, err error) {
	if m.pos >= len(m.data) {
		return nil, io.EOF
	}
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			out, err = nil, errShrunk
		}
	}()
	rest := m.data[m.pos:]
	n := m.base.NextSplitPoint(rest)
	if n < 0 {
		n = len(rest) // no boundary before the end: the last chunk
	}
	out = append(buf[:0], rest[:n]...)
	m.pos += n
	// Drop the pages already cut from this process's mapping (they stay in
	// the page cache), so that resident memory stays small however large
	// the file.
	const step = 8 << 20
	if end := m.pos &^ (os.Getpagesize() - 1); end-m.released >= step {
		_ = unix.Madvise(m.data[m.released:end], unix.MADV_DONTNEED)
		m.released = end
	}
	return out, nil
}

func (m *mapCutter) close() {
	_ = unix.Munmap(m.data)
	debug.SetPanicOnFault(m.onFault)
}
