// Package pack defines the pack file: an immutable file of sealed blobs
// followed by a sealed header that lists them.
//
//	blob 0 | blob 1 | ... | blob n-1 | sealed header | header length (uint32 LE)
//
// Each blob is crypto-sealed with additional data "lifeboat blob" | type | id,
// so a blob cannot be passed off as another. The header plaintext is
// "LBP1" followed by n fixed-size entries (EntrySize bytes each):
//
//	type (1) | id (32) | offset (uint32 LE) | length (uint32 LE) | raw length (uint32 LE)
//
// length is the sealed size in the pack; raw length is 0 for a blob stored
// uncompressed, else the plaintext size of a zstd-compressed blob. A pack is
// named by the unkeyed BLAKE3 hash of its whole content (hex), which check
// uses to find damage without the key.
package pack

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/zeebo/blake3"
)

// BlobType says what a blob holds.
type BlobType uint8

// Blob types.
const (
	DataBlob BlobType = 1 // a chunk of file content
	TreeBlob BlobType = 2 // an encoded directory listing
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	}
	return fmt.Sprintf("blobtype(%d)", uint8(t))
}

// ID names a blob or a file: 32 bytes, shown as hex.
type ID [32]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the 8-hex-digit abbreviation used in listings.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsNull reports whether id is all zeros.
func (id ID) IsNull() bool { return id == ID{} }

// ParseID parses 64 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("invalid id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// MarshalText encodes an id as hex (for JSON).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes hex.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Hash names a pack or other file by the unkeyed BLAKE3 hash of its content.
func Hash(b []byte) ID { return ID(blake3.Sum256(b)) }

// Entry locates one blob inside a pack.
type Entry struct {
	Type      BlobType
	ID        ID
	Offset    uint32
	Length    uint32 // sealed length
	RawLength uint32 // plaintext length if compressed, else 0
}

// PlainLength is the blob's plaintext length.
func (e Entry) PlainLength() uint32 {
	if e.RawLength != 0 {
		return e.RawLength
	}
	return e.Length - crypto.Overhead
}

// EntrySize is the encoded size of one header entry.
const EntrySize = 1 + 32 + 4 + 4 + 4

const headerMagic = "LBP1"

// MaxHeaderLength bounds a header so that a damaged length cannot make a
// reader allocate without limit (about 370,000 blobs).
const MaxHeaderLength = 16 << 20

// ErrFormat reports bytes that do not decode as a pack.
var ErrFormat = errors.New("malformed pack")

// BlobAD is the additional data that binds a sealed blob to its type and id.
func BlobAD(t BlobType, id ID) []byte {
	ad := make([]byte, 0, 14+1+32)
	ad = append(ad, "lifeboat blob"...)
	ad = append(ad, byte(t))
	return append(ad, id[:]...)
}

var headerAD = []byte("lifeboat pack header")

// PutEntry encodes e into b[:EntrySize].
func PutEntry(b []byte, e Entry) {
	b[0] = byte(e.Type)
	copy(b[1:33], e.ID[:])
	binary.LittleEndian.PutUint32(b[33:], e.Offset)
	binary.LittleEndian.PutUint32(b[37:], e.Length)
	binary.LittleEndian.PutUint32(b[41:], e.RawLength)
}

// ReadEntry decodes and checks one entry.
func ReadEntry(b []byte) (Entry, error) {
	e := Entry{
		Type:      BlobType(b[0]),
		Offset:    binary.LittleEndian.Uint32(b[33:]),
		Length:    binary.LittleEndian.Uint32(b[37:]),
		RawLength: binary.LittleEndian.Uint32(b[41:]),
	}
	copy(e.ID[:], b[1:33])
	if e.Type != DataBlob && e.Type != TreeBlob {
		return e, fmt.Errorf("%w: blob type %d", ErrFormat, b[0])
	}
	if e.Length < crypto.Overhead {
		return e, fmt.Errorf("%w: blob length %d", ErrFormat, e.Length)
	}
	return e, nil
}

// Writer assembles one pack, streaming it to out (a temporary file or a
// buffer) and hashing it on the way, so that a pack never has to be held
// in memory whole.
type Writer struct {
	out     io.Writer
	hash    *blake3.Hasher
	scratch []byte
	n       int64
	entries []Entry
}

// NewWriter starts a pack written to out.
func NewWriter(out io.Writer) *Writer {
	return &Writer{out: out, hash: blake3.New()}
}

// Flush flushes out if it buffers (has a Flush method).
func (w *Writer) Flush() error {
	if f, ok := w.out.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// Len is the number of bytes written so far.
func (w *Writer) Len() int64 { return w.n }

// Count is the number of blobs so far.
func (w *Writer) Count() int { return len(w.entries) }

func (w *Writer) write(b []byte) error {
	if _, err := w.out.Write(b); err != nil {
		return err
	}
	_, _ = w.hash.Write(b)
	w.n += int64(len(b))
	return nil
}

// Add seals payload (already compressed if rawLength != 0) into the pack.
func (w *Writer) Add(key *crypto.Key, t BlobType, id ID, payload []byte, rawLength uint32) (Entry, error) {
	w.scratch = key.Seal(w.scratch[:0], payload, BlobAD(t, id))
	e := Entry{Type: t, ID: id, Offset: uint32(w.n), Length: uint32(len(w.scratch)), RawLength: rawLength}
	if err := w.write(w.scratch); err != nil {
		return e, err
	}
	w.entries = append(w.entries, e)
	return e, nil
}

// Finish writes the header and returns the pack's name (the hash of all
// its bytes), its entries and its size.
func (w *Writer) Finish(key *crypto.Key) (ID, []Entry, int64, error) {
	hdr := make([]byte, len(headerMagic)+len(w.entries)*EntrySize)
	copy(hdr, headerMagic)
	for i, e := range w.entries {
		PutEntry(hdr[len(headerMagic)+i*EntrySize:], e)
	}
	sealed := key.Seal(nil, hdr, headerAD)
	sealed = binary.LittleEndian.AppendUint32(sealed, uint32(len(sealed)))
	if err := w.write(sealed); err != nil {
		return ID{}, nil, 0, err
	}
	var id ID
	w.hash.Sum(id[:0])
	return id, w.entries, w.n, nil
}

// HeaderLength reads the sealed header length from the last 4 bytes of a
// pack of packSize bytes.
func HeaderLength(tail []byte, packSize int64) (int, error) {
	if len(tail) < 4 {
		return 0, fmt.Errorf("%w: %d bytes", ErrFormat, len(tail))
	}
	n := int64(binary.LittleEndian.Uint32(tail[len(tail)-4:]))
	if n < crypto.Overhead+int64(len(headerMagic)) || n > MaxHeaderLength || n+4 > packSize {
		return 0, fmt.Errorf("%w: header length %d in a pack of %d bytes", ErrFormat, n, packSize)
	}
	return int(n), nil
}

// ParseHeader opens a sealed header and checks that every entry lies inside
// the first dataEnd bytes of the pack without overlap.
func ParseHeader(key *crypto.Key, sealed []byte, dataEnd int64) ([]Entry, error) {
	hdr, err := key.Open(nil, sealed, headerAD)
	if err != nil {
		return nil, fmt.Errorf("pack header: %w", err)
	}
	return DecodeHeader(hdr, dataEnd)
}

// DecodeHeader decodes an opened header.
func DecodeHeader(hdr []byte, dataEnd int64) ([]Entry, error) {
	if len(hdr) < len(headerMagic) || string(hdr[:len(headerMagic)]) != headerMagic {
		return nil, fmt.Errorf("%w: bad header magic", ErrFormat)
	}
	body := hdr[len(headerMagic):]
	if len(body)%EntrySize != 0 {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrFormat, len(body))
	}
	entries := make([]Entry, 0, len(body)/EntrySize)
	var next int64
	for i := 0; i < len(body); i += EntrySize {
		e, err := ReadEntry(body[i : i+EntrySize])
		if err != nil {
			return nil, err
		}
		if int64(e.Offset) < next || int64(e.Offset)+int64(e.Length) > dataEnd {
			return nil, fmt.Errorf("%w: blob %s at %d+%d outside the data", ErrFormat, e.ID.Short(), e.Offset, e.Length)
		}
		next = int64(e.Offset) + int64(e.Length)
		entries = append(entries, e)
	}
	return entries, nil
}
