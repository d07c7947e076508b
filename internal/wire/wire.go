// Package wire is the stream of a direct copy (migrate --direct) between
// lifeboat on the source, which reads a volume, and lifeboat on the
// destination, which makes its volume equal to it. The source sends every
// entry in a canonical order with the content of regular files; the
// destination sends back, in the same order, a signature of each regular
// file it already has (a hash of each BlockSize block), and the source
// sends only the blocks whose hash differs. Nothing is stored on either
// side but the volumes themselves.
//
// A frame is a kind byte, a uvarint length and that many bytes.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/zeebo/blake3"
)

// Frame kinds.
const (
	// From the source.
	Root    byte = 'R' // the root directory's node (JSON); its metadata is applied last
	Entry   byte = 'E' // an entry (JSON EntryMsg); a regular file's blocks follow
	Data    byte = 'D' // uvarint offset | zstd of one block's bytes
	Zero    byte = 'Z' // uvarint offset | uvarint length: zeros (a hole)
	FileEnd byte = 'F' // uvarint size | the BLAKE3-256 of the file's content
	DirEnd  byte = 'U' // the directory last entered is complete
	// From the destination.
	Sig byte = 'S' // uvarint path length | path | uvarint size | one BlockHash per block
	// From the caller that joins the two, before the destination's
	// signatures, to a source started ahead of its copy (a live
	// migration's last round: the source starts while the application
	// stops, and reads only once it has).
	Go byte = 'G'

	// Both: nothing follows.
	End byte = 'X'
)

// BlockSize is the unit in which changed content travels: a database page
// of 8 KiB rewritten costs one block.
const BlockSize = 16 << 10

// MaxFrame bounds a frame, so that a damaged stream cannot make a reader
// allocate without limit (a signature of a 64 TiB file fits).
const MaxFrame = 64 << 20

// BlockHash identifies a block's content: the first 16 bytes of its
// BLAKE3 hash. A whole file's content is also checked with its full hash
// before the destination accepts it.
type BlockHash [16]byte

// HashBlock hashes one block.
func HashBlock(b []byte) BlockHash {
	sum := blake3.Sum256(b)
	var h BlockHash
	copy(h[:], sum[:])
	return h
}

// Writer writes frames.
type Writer struct{ w *bufio.Writer }

// NewWriter returns a Writer on w; call Flush when a reply is awaited.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 256<<10)} }

// Frame writes one frame whose payload is the concatenation of parts.
func (w *Writer) Frame(kind byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var head [1 + binary.MaxVarintLen64]byte
	head[0] = kind
	k := binary.PutUvarint(head[1:], uint64(n))
	if _, err := w.w.Write(head[:1+k]); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// GoFrame is a whole Go frame, for a caller to write ahead of a stream.
var GoFrame = []byte{Go, 0}

// Flush sends what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// Reader reads frames.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 256<<10)} }

// ErrStream reports bytes that are not a valid stream.
var ErrStream = errors.New("direct copy stream")

// Next reads a frame. The payload is valid until the next call.
func (r *Reader) Next() (byte, []byte, error) {
	kind, err := r.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: ended early", ErrStream)
		}
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrStream, err)
	}
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("%w: a frame of %d bytes", ErrStream, n)
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrStream, err)
	}
	return kind, r.buf, nil
}

// Uvarint reads a uvarint from the front of b.
func Uvarint(b []byte) (uint64, []byte, error) {
	v, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, nil, fmt.Errorf("%w: bad number", ErrStream)
	}
	return v, b[k:], nil
}

// Before reports whether path a comes before path b in the canonical order:
// a directory's entries sorted by name, each directory followed by what it
// holds (the order of a depth-first walk with sorted names).
func Before(a, b string) bool {
	for {
		ah, at, aMore := strings.Cut(a, "/")
		bh, bt, bMore := strings.Cut(b, "/")
		if ah != bh {
			return ah < bh
		}
		if !aMore || !bMore {
			return !aMore && bMore // a parent before what it holds
		}
		a, b = at, bt
	}
}

// SigMsg is a decoded Sig frame.
type SigMsg struct {
	Path   string
	Size   int64
	Blocks []BlockHash
}

// EncodeSig is the payload of a Sig frame.
func EncodeSig(s SigMsg) []byte {
	b := binary.AppendUvarint(nil, uint64(len(s.Path)))
	b = append(b, s.Path...)
	b = binary.AppendUvarint(b, uint64(s.Size))
	for _, h := range s.Blocks {
		b = append(b, h[:]...)
	}
	return b
}

// DecodeSig parses the payload of a Sig frame.
func DecodeSig(b []byte) (SigMsg, error) {
	n, b, err := Uvarint(b)
	if err != nil || n > uint64(len(b)) {
		return SigMsg{}, fmt.Errorf("%w: bad signature", ErrStream)
	}
	s := SigMsg{Path: string(b[:n])}
	size, b, err := Uvarint(b[n:])
	if err != nil || len(b)%len(BlockHash{}) != 0 {
		return SigMsg{}, fmt.Errorf("%w: bad signature", ErrStream)
	}
	s.Size = int64(size)
	s.Blocks = make([]BlockHash, len(b)/len(BlockHash{}))
	for i := range s.Blocks {
		copy(s.Blocks[i][:], b[i*len(BlockHash{}):])
	}
	return s, nil
}

// EntryMsg is the payload of an Entry frame: the entry's node (with its
// name) in the directory Dir, and for a further name of a hard-linked file
// the path of its first name.
type EntryMsg struct {
	Dir  []byte          `json:"dir"`
	Node repository.Node `json:"node"`
	Link []byte          `json:"link,omitempty"`
}
