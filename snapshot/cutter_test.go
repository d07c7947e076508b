package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/restic/chunker"
	"github.com/zeebo/blake3"
)

func testConfig(t testing.TB) repository.Config {
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
		ch, err := c.next(buf)
		if errors.Is(err, io.EOF) {
			return lens
		}
		if err != nil {
			t.Fatal(err)
		}
		lens = append(lens, len(ch.data))
	}
}

// Mapping a file must cut it exactly where reading it does, in both
// layouts, or the two paths would not deduplicate against each other.
func TestMapCutterMatchesReader(t *testing.T) {
	eachChunker(t, testConfig, mapMatchesReader)
}

// chunkers are the chunkers a repository can have ("": Rabin).
var chunkers = []string{"", repository.ChunkerGear}

func mapMatchesReader(t *testing.T, cfg repository.Config) {
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
	for _, piece := range []int{0, repository.DefaultPieceSize} {
		rc := &readCutter{ch: newStreamCutter(newSplitter(cfg)), piece: piece}
		rc.ch.reset(open())
		mc, err := newMapCutter(open(), int64(len(data)), cfg, piece, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, b := cuts(t, rc), cuts(t, mc)
		if len(a) < 20 || len(a) != len(b) {
			t.Fatalf("piece %d: reader cut %d blobs, mapping %d", piece, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("piece %d: blob %d: reader %d bytes, mapping %d", piece, i, a[i], b[i])
			}
			if piece > 0 && a[i] > piece {
				t.Fatalf("piece %d: blob %d has %d bytes", piece, i, a[i])
			}
		}
		if piece > 0 && len(a) < len(data)/piece {
			t.Fatalf("%d pieces of at most %d bytes for %d bytes", len(a), piece, len(data))
		}
	}
}

// A mapped file truncated under the backup gives an error, not a crash.
func TestMapCutterTruncated(t *testing.T) {
	cfg := testConfig(t)
	p, f := writeOpen(t, treetest.RandomBytes(2, 32<<20))
	mc, err := newMapCutter(f, 32<<20, cfg, 0, nil, nil)
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

// smallChunks cuts chunks of 4 to 64 KiB, 16 KiB on average, so that a few
// MiB make hundreds of chunks.
func smallChunks(t testing.TB) repository.Config {
	cfg := testConfig(t)
	cfg.MinChunkSize, cfg.MaxChunkSize, cfg.AverageChunkBits = 4<<10, 64<<10, 14
	return cfg
}

// writeOpen writes data to a new file and opens it for reading (closed
// when the test ends).
func writeOpen(t *testing.T, data []byte) (string, *os.File) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return p, f
}

// guideOf is the guide of a file whose previous version had the blobs
// ids of lengths lens (nil if there is none).
func guideOf(ids []pack.ID, lens []int, piece int) *guide {
	length := map[pack.ID]int{}
	for i, id := range ids {
		length[id] = lens[i]
	}
	return newGuide(ids, func(id pack.ID) (int, bool) { n, ok := length[id]; return n, ok }, piece)
}

// eachChunker runs a subtest with each chunker, on the config cfgOf makes.
func eachChunker(t *testing.T, cfgOf func(testing.TB) repository.Config, run func(*testing.T, repository.Config)) {
	for _, kind := range chunkers {
		t.Run("chunker "+kind, func(t *testing.T) {
			cfg := cfgOf(t)
			cfg.Chunker = kind
			run(t, cfg)
		})
	}
}

// cutAll cuts data (written to a file and mapped) in pieces of piece bytes
// (0: whole chunks) with an optional guide, and returns each blob's id and
// length, and how many bytes the guide found.
func cutAll(t *testing.T, cfg repository.Config, data []byte, piece int, g *guide) (ids []pack.ID, lens []int, matched int) {
	t.Helper()
	_, f := writeOpen(t, data)
	hash := func(b []byte) pack.ID { return pack.ID(blake3.Sum256(b)) }
	mc, err := newMapCutter(f, int64(len(data)), cfg, piece, g, hash)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.close()
	buf := make([]byte, 0, cfg.MaxChunkSize)
	for {
		c, err := mc.next(buf)
		if errors.Is(err, io.EOF) {
			return ids, lens, matched
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.stored {
			matched += c.length
		} else {
			if c.length != len(c.data) || (c.hashed && c.id != hash(c.data)) {
				t.Fatalf("chunk %d: length %d, %d bytes of data, hashed %v", len(ids), c.length, len(c.data), c.hashed)
			}
			c.id = hash(c.data)
		}
		ids, lens = append(ids, c.id), append(lens, c.length)
	}
}

// A guided cut is exactly the unguided one, whatever changed, and the
// guide finds the unchanged chunks.
func TestGuidedCutMatchesUnguided(t *testing.T) {
	eachChunker(t, smallChunks, guidedCutMatchesUnguided)
}

func guidedCutMatchesUnguided(t *testing.T, cfg repository.Config) {
	r := rand.New(rand.NewPCG(7, 7))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	// Random data with a long zero run (many chunks with one id) and a
	// repeated block (content that occurs twice).
	block := random(200 << 10)
	orig := slices.Concat(random(1<<20), make([]byte, 512<<10), block, random(1<<20), block, random(1<<20))
	edit := func(f func(b []byte) []byte) []byte { return f(slices.Clone(orig)) }
	insert := func(b []byte, at int, s string) []byte { return slices.Insert(b, at, []byte(s)...) }
	cases := []struct {
		name     string
		data     []byte
		minMatch float64 // the share of bytes the guide must find
	}{
		{"unchanged", orig, 0.99},
		{"overwritten blocks", edit(func(b []byte) []byte {
			for _, at := range []int{10_000, 700_000, 1_200_000, 2_000_000, 3_500_000} {
				copy(b[at:], random(4096))
			}
			return b
		}), 0.8},
		{"insertions", edit(func(b []byte) []byte {
			b = insert(b, 5_000, "inserted")
			b = insert(b, 1_800_000, "and here a longer insertion of text")
			return insert(b, 3_000_000, "x")
		}), 0.8},
		{"deletions", edit(func(b []byte) []byte {
			b = slices.Delete(b, 100_000, 100_777)
			return slices.Delete(b, 2_500_000, 2_600_000)
		}), 0.8},
		{"appended", edit(func(b []byte) []byte { return append(b, random(300<<10)...) }), 0.8},
		{"truncated", edit(func(b []byte) []byte { return b[:len(b)-700_000] }), 0.7},
		{"prepended", edit(func(b []byte) []byte { return insert(b, 0, "#!") }), 0.8},
		{"zero run written", edit(func(b []byte) []byte { copy(b[(1<<20)+100_000:], "not zero"); return b }), 0.8},
		{"all new", random(len(orig)), 0},
	}
	for _, piece := range []int{0, 1 << 10} {
		ids, lens, _ := cutAll(t, cfg, orig, piece, nil)
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/piece %d", c.name, piece), func(t *testing.T) {
				wantIDs, wantLens, _ := cutAll(t, cfg, c.data, piece, nil)
				g := guideOf(ids, lens, piece)
				if g == nil {
					t.Fatal("no guide")
				}
				gotIDs, gotLens, matched := cutAll(t, cfg, c.data, piece, g)
				if !slices.Equal(gotIDs, wantIDs) || !slices.Equal(gotLens, wantLens) {
					t.Fatalf("guided cut differs: %d blobs %v, unguided %d blobs %v", len(gotLens), gotLens, len(wantLens), wantLens)
				}
				if share := float64(matched) / float64(len(c.data)); share < c.minMatch {
					t.Fatalf("guide found %.0f%% of the bytes, want at least %.0f%%", 100*share, 100*c.minMatch)
				}
			})
		}
	}
}

// Pages rewritten in place, at random, many times over: the guided cut,
// which runs the chunker only from the first rewritten byte of a chunk,
// cuts exactly where the chunker run from the chunk's start does. Chunks
// are small (16 KiB on average) so that a boundary misplaced by a few
// bytes is met often. (Chunks that are a whole number of pieces are
// TestGuidedCutMatchesUnguided's.)
func TestGuidedCutAfterPageWrites(t *testing.T) {
	eachChunker(t, smallChunks, guidedCutAfterPageWrites)
}

func guidedCutAfterPageWrites(t *testing.T, cfg repository.Config) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 11))
	const piece = 1 << 10
	var checked int
	for round := range 40 {
		orig := make([]byte, 512<<10+r.IntN(4096))
		for i := range orig {
			orig[i] = byte(r.Uint32())
		}
		ids, lens, _ := cutAll(t, cfg, orig, piece, nil)
		changed := slices.Clone(orig)
		for range 1 + r.IntN(30) {
			n := 1 + r.IntN(4096)
			at := r.IntN(len(changed) - n)
			for i := at; i < at+n; i++ {
				changed[i] = byte(r.Uint32())
			}
		}
		wantIDs, wantLens, _ := cutAll(t, cfg, changed, piece, nil)
		gotIDs, gotLens, _ := cutAll(t, cfg, changed, piece, guideOf(ids, lens, piece))
		if !slices.Equal(gotIDs, wantIDs) || !slices.Equal(gotLens, wantLens) {
			t.Fatalf("round %d: guided cut differs: %d blobs, unguided %d", round, len(gotLens), len(wantLens))
		}
		checked += len(wantLens)
	}
	if checked == 0 {
		t.Fatal("nothing was cut")
	}
}

// The Rabin splitter under the stream cutter cuts exactly where
// restic/chunker's own reader does, so that repositories made before the
// cutters were rewritten keep deduplicating against what they hold.
func TestStreamCutterMatchesResticChunker(t *testing.T) {
	cfg := testConfig(t)
	data := append(treetest.RandomBytes(5, 12<<20), make([]byte, 9<<20)...)
	want := chunker.New(bytes.NewReader(data), cfg.ChunkerPolynomial, chunker.WithBoundaries(cfg.MinChunkSize, cfg.MaxChunkSize), chunker.WithAverageBits(cfg.AverageChunkBits))
	got := newStreamCutter(newSplitter(cfg))
	got.reset(bytes.NewReader(data))
	var n int
	for ; ; n++ {
		w, werr := want.Next(nil)
		g, gerr := got.next(nil)
		if werr == io.EOF || gerr == io.EOF {
			if werr != gerr {
				t.Fatalf("chunk %d: restic/chunker %v, stream cutter %v", n, werr, gerr)
			}
			break
		}
		if werr != nil || gerr != nil || !bytes.Equal(w.Data, g) {
			t.Fatalf("chunk %d: restic/chunker %d bytes (%v), stream cutter %d (%v)", n, len(w.Data), werr, len(g), gerr)
		}
	}
	if n < 10 {
		t.Fatalf("only %d chunks", n)
	}
}

// The gear chunker cuts chunks within the bounds, about as long on average
// as the Rabin chunker with the same parameters, the same wherever the
// buffers it is handed end, and differently for another polynomial.
func TestGearChunks(t *testing.T) {
	cfg := testConfig(t)
	cfg.Chunker = repository.ChunkerGear
	data := treetest.RandomBytes(6, 64<<20)
	cut := func(cfg repository.Config, step int) []int {
		g := newSplitter(cfg)
		var lens []int
		start := 0
		for pos := 0; pos < len(data); {
			end := min(len(data), pos+step)
			i := g.NextSplitPoint(data[pos:end])
			if i < 0 {
				pos = end
				continue
			}
			pos += i
			lens = append(lens, pos-start)
			start = pos
		}
		return lens
	}
	whole := cut(cfg, len(data))
	if len(whole) < 40 {
		t.Fatalf("%d chunks in 64 MiB", len(whole))
	}
	var sum int
	for i, n := range whole {
		if n < int(cfg.MinChunkSize) || n > int(cfg.MaxChunkSize) {
			t.Fatalf("chunk %d has %d bytes", i, n)
		}
		sum += n
	}
	// Rabin with these bounds: the minimum plus about 2^AverageChunkBits.
	avg, want := sum/len(whole), int(cfg.MinChunkSize)+1<<cfg.AverageChunkBits
	if avg < want*2/3 || avg > want*3/2 {
		t.Fatalf("chunks of %d bytes on average, want about %d", avg, want)
	}
	for _, step := range []int{1, 63, 4096, 300_001} {
		if got := cut(cfg, step); !slices.Equal(got, whole[:len(got)]) || len(got) < len(whole)-1 {
			t.Fatalf("handed over in %d-byte buffers: %d chunks, differing from the %d of one buffer", step, len(got), len(whole))
		}
	}
	other := cfg
	for other.ChunkerPolynomial == cfg.ChunkerPolynomial {
		other = testConfig(t)
		other.Chunker = repository.ChunkerGear
	}
	if slices.Equal(cut(other, len(data)), whole) {
		t.Fatal("another polynomial cut the same chunks")
	}
}
