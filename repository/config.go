package repository

import (
	"fmt"

	"github.com/restic/chunker"
)

// FormatVersion is the repository format this code reads and writes
// (docs/design.md describes it).
const FormatVersion = 1

// Config is the repository-wide configuration, fixed at init and stored
// sealed in the object "config".
type Config struct {
	Version int    `json:"version"`
	ID      string `json:"id"` // random, identifies the repository
	// Chunker parameters: a random irreducible polynomial of degree 53 and
	// the chunk size bounds. Changing them would defeat deduplication.
	ChunkerPolynomial chunker.Pol `json:"chunker_polynomial"`
	MinChunkSize      uint        `json:"min_chunk_size"`
	MaxChunkSize      uint        `json:"max_chunk_size"`
	AverageChunkBits  int         `json:"average_chunk_bits"`
	// PieceSize, if not 0, is the size of the pieces in which the chunks
	// of files written in place are stored: such a chunk of n bytes is
	// stored as the blobs of its bytes [0, PieceSize), [PieceSize,
	// 2*PieceSize), ... (the last one shorter). Which files are written in
	// place is decided by the archiver (docs/design.md, "Pieces");
	// repositories made before pieces existed have 0 and store whole chunks.
	PieceSize uint `json:"piece_size,omitempty"`
	// PackSize is the target size of a pack file in bytes.
	PackSize int `json:"pack_size"`
	// Chunker is the content-defined chunker that cuts files: "" (the
	// Rabin fingerprint of restic/chunker over the polynomial, as in
	// repositories made before there was a choice) or ChunkerGear.
	Chunker string `json:"chunker,omitempty"`
}

// ChunkerGear is the gear-hash chunker (docs/design.md, "Chunking"): the
// same boundaries' statistics as the Rabin fingerprint at four times its
// speed, with a table derived from the secret polynomial.
const ChunkerGear = "gear"

// Defaults for a new repository. Chunks average 512 KiB (restic: 1 MiB):
// volumes of databases change in scattered pages, and each change re-stores
// the chunk around it, so smaller chunks halve what an incremental backup
// adds, for twice the (still small) index.
const (
	DefaultMinChunk = 256 << 10
	DefaultMaxChunk = 8 << 20
	DefaultAvgBits  = 19 // 512 KiB
	// DefaultPieceSize: a database that rewrites 1% of its 8 KiB pages at
	// random touches about 4% of the 32 KiB pieces of its files (a page
	// straddles two pieces one time in four), but 70% of its 512 KiB
	// chunks; with the chunks re-cut where a write moved a boundary, the
	// next backup adds about 7% of the file (10% with 64 KiB pieces,
	// 8% with 48 KiB: docs/benchmarks.md).
	DefaultPieceSize = 32 << 10
	// PageSize: a file whose size is a whole number of these is taken to
	// be written in place in pages (databases, disk images).
	PageSize         = 4 << 10
	DefaultPackSize  = 16 << 20
	minPackSize      = 1 << 20
	maxPackSize      = 128 << 20
	maxChunkSizeEver = 64 << 20
)

// Validate checks a config read from a repository or given to Init.
func (c *Config) Validate() error {
	switch {
	case c.Version != FormatVersion:
		return fmt.Errorf("repository format version %d is not supported (this lifeboat reads version %d)", c.Version, FormatVersion)
	case c.ChunkerPolynomial == 0 || !c.ChunkerPolynomial.Irreducible():
		return fmt.Errorf("chunker polynomial %v is not irreducible", c.ChunkerPolynomial)
	case c.MinChunkSize < 64 || c.MinChunkSize >= c.MaxChunkSize || c.MaxChunkSize > maxChunkSizeEver:
		return fmt.Errorf("chunk size bounds %d..%d are invalid", c.MinChunkSize, c.MaxChunkSize)
	case c.AverageChunkBits < 10 || c.AverageChunkBits > 26:
		return fmt.Errorf("average chunk bits %d out of range", c.AverageChunkBits)
	case c.PieceSize != 0 && (c.PieceSize%PageSize != 0 || c.PieceSize >= c.MinChunkSize):
		return fmt.Errorf("piece size %d must be a multiple of %d below the minimum chunk size %d", c.PieceSize, PageSize, c.MinChunkSize)
	case c.Chunker != "" && c.Chunker != ChunkerGear:
		return fmt.Errorf("chunker %q is not known to this lifeboat", c.Chunker)
	case c.PackSize < minPackSize || c.PackSize > maxPackSize:
		return fmt.Errorf("pack size %d out of range %d..%d", c.PackSize, minPackSize, maxPackSize)
	}
	return nil
}
