package snapshot

import (
	"encoding/binary"
	"io"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/restic/chunker"
	"github.com/zeebo/blake3"
)

// splitter finds the boundaries of content-defined chunks in a stream
// handed over in buffers: NextSplitPoint returns the index in buf before
// which the current chunk ends, or -1 if it goes on past buf; after a
// boundary it starts the next chunk afresh. Reset starts afresh anywhere.
type splitter interface {
	NextSplitPoint(buf []byte) int
	Reset()
}

// newSplitter returns the repository's chunker.
func newSplitter(cfg repository.Config) splitter {
	if cfg.Chunker == repository.ChunkerGear {
		return newGear(cfg)
	}
	r := &rabin{cfg: cfg}
	r.Reset()
	return r
}

// rabin is restic/chunker's Rabin fingerprint over the repository's
// polynomial.
type rabin struct {
	*chunker.BaseChunker
	cfg repository.Config
}

func (r *rabin) Reset() {
	r.BaseChunker = chunker.NewBase(r.cfg.ChunkerPolynomial, chunker.WithBaseBoundaries(r.cfg.MinChunkSize, r.cfg.MaxChunkSize),
		chunker.WithBaseAverageBits(r.cfg.AverageChunkBits))
}

// gear is a gear-hash chunker. Its hash shifts left by one bit a byte and
// adds a table's number for the byte, so that after 64 bytes it depends
// on those 64 bytes only, as the Rabin fingerprint depends on its 64-byte
// window; a boundary is where the hash's top AverageChunkBits bits are
// zero (the top bits are those that depend on all 64 bytes). Like
// restic/chunker, it cuts no chunk shorter than MinChunkSize (the bytes
// before the last 64 of that are not even hashed) nor longer than
// MaxChunkSize. The table comes from the repository's secret polynomial,
// so that, as with Rabin, the boundaries tell nothing about the content
// to whoever does not know it.
type gear struct {
	table    *[256]uint64
	min, max int
	mask     uint64
	hash     uint64
	n        int // bytes of the current chunk seen so far
}

func newGear(cfg repository.Config) *gear {
	h := blake3.NewDeriveKey("lifeboat 2026-11-30 gear chunker table")
	var pol [8]byte
	binary.LittleEndian.PutUint64(pol[:], uint64(cfg.ChunkerPolynomial))
	_, _ = h.Write(pol[:])
	var raw [256 * 8]byte
	_, _ = io.ReadFull(h.Digest(), raw[:])
	t := new([256]uint64)
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	bits := uint(cfg.AverageChunkBits)
	return &gear{table: t, min: int(cfg.MinChunkSize), max: int(cfg.MaxChunkSize), mask: (1<<bits - 1) << (64 - bits)}
}

func (g *gear) Reset() { g.hash, g.n = 0, 0 }

func (g *gear) NextSplitPoint(buf []byte) int {
	i := 0
	// Skip what cannot end a chunk and does not reach the hash.
	if skip := g.min - 64 - g.n; skip > 0 {
		if skip >= len(buf) {
			g.n += len(buf)
			return -1
		}
		i, g.n = skip, g.n+skip
	}
	hash, t := g.hash, g.table
	// Up to the minimum: hash only.
	if warm := min(len(buf), i+g.min-1-g.n); i < warm {
		for _, c := range buf[i:warm] {
			hash = hash<<1 + t[c]
		}
		g.n += warm - i
		i = warm
	}
	// Then every byte may end the chunk, the one at the maximum must.
	end := min(len(buf), i+g.max-g.n)
	for j, c := range buf[i:end] {
		hash = hash<<1 + t[c]
		if hash&g.mask == 0 {
			g.Reset()
			return i + j + 1
		}
	}
	if g.n += end - i; g.n >= g.max {
		g.Reset()
		return end
	}
	g.hash = hash
	return -1
}

// streamCutter cuts what it reads from r with a splitter.
type streamCutter struct {
	r     io.Reader
	split splitter
	buf   []byte // what was read
	rest  []byte // of buf, not yet returned
	eof   bool
}

const streamBuffer = 512 << 10

func newStreamCutter(s splitter) *streamCutter {
	return &streamCutter{split: s, buf: make([]byte, streamBuffer)}
}

// reset starts on a new reader.
func (s *streamCutter) reset(r io.Reader) {
	s.r, s.rest, s.eof = r, nil, false
	s.split.Reset()
}

// next appends the next chunk to out[:0] and returns it; io.EOF after
// the last one.
func (s *streamCutter) next(out []byte) ([]byte, error) {
	out = out[:0]
	for {
		if len(s.rest) == 0 {
			if s.eof {
				if len(out) > 0 {
					return out, nil
				}
				return nil, io.EOF
			}
			n, err := io.ReadFull(s.r, s.buf)
			switch err {
			case nil:
			case io.EOF, io.ErrUnexpectedEOF:
				s.eof = true
			default:
				return nil, err
			}
			s.rest = s.buf[:n]
			continue
		}
		i := s.split.NextSplitPoint(s.rest)
		if i < 0 {
			out = append(out, s.rest...)
			s.rest = nil
			continue
		}
		out = append(out, s.rest[:i]...)
		s.rest = s.rest[i:]
		return out, nil
	}
}
