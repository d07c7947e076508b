// Package index maps blob ids to their place in pack files.
//
// An index file lists packs and the blobs inside them; index files are
// immutable and any number of them may exist. The in-memory Index is the
// union of all loaded files plus what this process has packed itself.
//
// Index file plaintext, before zstd compression and sealing with additional
// data "lifeboat index":
//
//	"LBI1" | uvarint n | n superseded index ids (32 bytes each)
//	       | uvarint p | p times: pack id (32) | uvarint m | m pack.Entry (pack.EntrySize each)
//
// Superseded ids name older index files whose content this one includes; the
// garbage collector writes them so a reader may skip those files.
package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// ErrFormat reports bytes that do not decode as an index.
var ErrFormat = errors.New("malformed index")

const magic = "LBI1"

// Location says where a blob lives.
type Location struct {
	Pack  pack.ID
	Entry pack.Entry
}

// PackBlobs lists the blobs of one pack.
type PackBlobs struct {
	Pack    pack.ID
	Entries []pack.Entry
}

// File is the decoded content of one index file.
type File struct {
	Supersedes []pack.ID
	Packs      []PackBlobs
}

// Encode returns the plaintext form of f.
func (f *File) Encode() []byte {
	n := len(magic) + 10 + 32*len(f.Supersedes) + 10
	for _, p := range f.Packs {
		n += 32 + 10 + len(p.Entries)*pack.EntrySize
	}
	b := make([]byte, 0, n)
	b = append(b, magic...)
	b = binary.AppendUvarint(b, uint64(len(f.Supersedes)))
	for _, id := range f.Supersedes {
		b = append(b, id[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Packs)))
	var e [pack.EntrySize]byte
	for _, p := range f.Packs {
		b = append(b, p.Pack[:]...)
		b = binary.AppendUvarint(b, uint64(len(p.Entries)))
		for _, ent := range p.Entries {
			pack.PutEntry(e[:], ent)
			b = append(b, e[:]...)
		}
	}
	return b
}

// Decode parses the plaintext form of an index file.
func Decode(b []byte) (*File, error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	r := reader{b: b[len(magic):]}
	f := &File{}
	n := r.count(32)
	for i := uint64(0); i < n && r.err == nil; i++ {
		f.Supersedes = append(f.Supersedes, r.id())
	}
	p := r.count(32 + 1)
	for i := uint64(0); i < p && r.err == nil; i++ {
		pb := PackBlobs{Pack: r.id()}
		m := r.count(pack.EntrySize)
		for j := uint64(0); j < m && r.err == nil; j++ {
			e, err := pack.ReadEntry(r.take(pack.EntrySize))
			if r.err == nil && err != nil {
				r.err = err
			}
			pb.Entries = append(pb.Entries, e)
		}
		f.Packs = append(f.Packs, pb)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return f, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return make([]byte, n)
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: truncated", ErrFormat)
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) id() pack.ID { return pack.ID(r.take(32)) }

// count reads a uvarint count of items at least minSize bytes each, refusing
// counts that the remaining bytes cannot hold.
func (r *reader) count(minSize int) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad count", ErrFormat)
		return 0
	}
	r.b = r.b[n:]
	if v > uint64(len(r.b)/minSize) {
		r.err = fmt.Errorf("%w: count %d exceeds the data", ErrFormat, v)
		return 0
	}
	return v
}

// blobKey distinguishes a tree and a data blob with the same id (the same
// bytes stored as both kinds).
