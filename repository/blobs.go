package repository

import (
	"context"
	"errors"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// ErrBlobNotFound: the index does not know the blob.
var ErrBlobNotFound = errors.New("blob not in index")

// IsLost reports whether err says that stored data is gone for good: an
// object that fails authentication (ErrDamaged), a blob that no index
// names (ErrBlobNotFound), or a pack that the store does not have, that
// is shorter than its index says, or whose bytes fail the store's own
// checksum. A store that failed to answer (a
// network error, a permission) is not lost data: reading again may work.
func IsLost(err error) bool {
	return errors.Is(err, ErrDamaged) || errors.Is(err, ErrBlobNotFound) ||
		errors.Is(err, targets.ErrNotFound) || errors.Is(err, targets.ErrOutOfRange) || errors.Is(err, targets.ErrCorrupt)
}

// PackName is the object name of a pack.
func PackName(id pack.ID) string { return KindData.Name(id) }

// BlobID computes the keyed id of plaintext.
func (r *Repository) BlobID(plain []byte) pack.ID { return pack.ID(r.key.ChunkID(plain)) }

// LoadBlob reads a blob, authenticates and decompresses it, and checks that
// its content hashes to id. buf, if large enough, holds the result.
func (r *Repository) LoadBlob(ctx context.Context, t pack.BlobType, id pack.ID, buf []byte) ([]byte, error) {
	loc, ok := r.Lookup(t, id)
	if !ok {
		return nil, fmt.Errorf("%s blob %s: %w", t, id.Short(), ErrBlobNotFound)
	}
	var sealed []byte
	var cached bool
	var err error
	if t == pack.TreeBlob {
		sealed, cached, err = r.sealedTree(ctx, loc.Pack, loc.Entry)
	} else {
		sealed, err = targets.ReadRange(ctx, r.target, PackName(loc.Pack), int64(loc.Entry.Offset), int64(loc.Entry.Length))
	}
	if err != nil {
		return nil, fmt.Errorf("%s blob %s in pack %s: %w", t, id.Short(), loc.Pack.Short(), err)
	}
	plain, err := r.OpenBlob(loc.Entry, sealed, buf)
	if err == nil || !cached {
		return plain, err
	}
	// The local copy failed its check, not the repository: read it there.
	r.forgetTreePack(loc.Pack)
	sealed, err = targets.ReadRange(ctx, r.target, PackName(loc.Pack), int64(loc.Entry.Offset), int64(loc.Entry.Length))
	if err != nil {
		return nil, fmt.Errorf("%s blob %s in pack %s: %w", t, id.Short(), loc.Pack.Short(), err)
	}
	return r.OpenBlob(loc.Entry, sealed, buf)
}

// OpenBlob turns the sealed bytes of one pack entry into verified plaintext.
func (r *Repository) OpenBlob(e pack.Entry, sealed, buf []byte) ([]byte, error) {
	fail := func(why error) error {
		return fmt.Errorf("%w: %s blob %s: %v", ErrDamaged, e.Type, e.ID.Short(), why)
	}
	payload, err := r.key.OpenInPlace(sealed, pack.BlobAD(e.Type, e.ID))
	if err != nil {
		if errors.Is(err, crypto.ErrUnauthenticated) {
			return nil, fail(err)
		}
		return nil, err
	}
	plain := payload
	if e.RawLength != 0 {
		if cap(buf) < int(e.RawLength) {
			buf = make([]byte, 0, e.RawLength)
		}
		plain, err = r.dec.DecodeAll(payload, buf[:0])
		if err != nil {
			return nil, fail(err)
		}
		if len(plain) != int(e.RawLength) {
			return nil, fail(fmt.Errorf("decompressed to %d bytes, want %d", len(plain), e.RawLength))
		}
	}
	if r.BlobID(plain) != e.ID {
		return nil, fail(errors.New("content does not match its id"))
	}
	return plain, nil
}

// compress returns the zstd form of plain and its raw length, or plain and 0
// when compression does not save space. t is the blob's type (see
// Compression).
//
// A large chunk is first probed with a 64 KiB sample from its middle: if
// zstd cannot shrink that by 3%, the chunk is taken as incompressible
// (random, encrypted or already compressed data) and stored as it is,
// which saves most of the compression time on such data.
func (r *Repository) compress(t pack.BlobType, plain, buf []byte) ([]byte, uint32) {
	enc := r.dataEnc
	if t == pack.TreeBlob {
		enc = r.treeEnc
	}
	if len(plain) < 64 || enc == nil {
		return plain, 0
	}
	const sample = 64 << 10
	if len(plain) >= 4*sample {
		mid := len(plain)/2 - sample/2
		probe := enc.EncodeAll(plain[mid:mid+sample], buf[:0])
		if len(probe) > sample*97/100 {
			return plain, 0
		}
	}
	c := enc.EncodeAll(plain, buf[:0])
	if len(c) >= len(plain) {
		return plain, 0
	}
	return c, uint32(len(plain))
}
