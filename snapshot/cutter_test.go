package snapshot

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/restic/chunker"
)

func testConfig(t *testing.T) repository.Config {
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		t.Fatal(err)
	}
	return repository.Config{ChunkerPolynomial: pol, MinChunkSize: repository.DefaultMinChunk,
		MaxChunkSize: repository.DefaultMaxChunk, AverageChunkBits: repository.DefaultAvgBits}
}

func cuts(t *testing.T, c cutter) []int {
	t.Helper()
	defer c.close()
	var lens []int
	buf := make([]byte, 0, repository.DefaultMaxChunk)
	for {
		data, err := c.next(buf)
		if errors.Is(err, io.EOF) {
			return lens
		}
		if err != nil {
			t.Fatal(err)
		}
		lens = append(lens, len(data))
	}
}

// Mapping a file must cut it exactly where reading it does, or the two
// paths would not deduplicate against each other.
func TestMapCutterMatchesReader(t *testing.T) {
	cfg := testConfig(t)
	p := filepath.Join(t.TempDir(), "f")
	data := append(treetest.RandomBytes(1, 40<<20), make([]byte, 20<<20)...) // random, then a long zero run
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	open := func() *os.File {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	rc := readCutter{chunker.New(open(), cfg.ChunkerPolynomial, chunker.WithBoundaries(cfg.MinChunkSize, cfg.MaxChunkSize), chunker.WithAverageBits(cfg.AverageChunkBits))}
	mc, err := newMapCutter(open(), int64(len(data)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cuts(t, rc), cuts(t, mc)
	if len(a) < 20 || len(a) != len(b) {
		t.Fatalf("reader cut %d chunks, mapping %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("chunk %d: reader %d bytes, mapping %d", i, a[i], b[i])
		}
	}
}

// A mapped file truncated under the backup gives an error, not a crash.
func TestMapCutterTruncated(t *testing.T) {
	cfg := testConfig(t)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, treetest.RandomBytes(2, 32<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mc, err := newMapCutter(f, 32<<20, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.close()
	if err := os.Truncate(p, 1<<20); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, repository.DefaultMaxChunk)
	for {
		_, err := mc.next(buf)
		if errors.Is(err, errShrunk) {
			return
		}
		if err != nil {
			t.Fatalf("want errShrunk, got %v", err)
		}
	}
}
