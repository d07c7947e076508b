package repository

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

func TestParseCompression(t *testing.T) {
	for in, want := range map[string]Compression{"": CompressionDefault, "default": CompressionDefault,
		"fast": CompressionFast, "MAX": CompressionMax, "off": CompressionOff} {
		got, err := ParseCompression(in)
		if err != nil || got != want {
			t.Errorf("ParseCompression(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"none", "auto", "0", "fastest", " off"} {
		if _, err := ParseCompression(in); err == nil {
			t.Errorf("ParseCompression(%q) accepted", in)
		}
	}
}

// Each setting stores a compressible blob in its own size order, and any
// setting reads what any other stored. The default compresses trees at
// level 3 and file data (whole small files and chunks) as fast does.
func TestCompressionSettings(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 11))
	var text bytes.Buffer
	for text.Len() < 1<<20 {
		fmt.Fprintf(&text, "2026-11-29T%02d:%02d:%02dZ GET /api/v1/orders/%d took %d ms\n", rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(100000), rng.IntN(900))
	}
	plain := text.Bytes()
	chunk := bytes.ToUpper(plain) // another blob, as compressible
	stored := map[Compression]int{}
	storedChunk := map[Compression]int{}
	storedTree := map[Compression]int{}
	tree := bytes.ToLower(plain) // stored as a tree blob: only its bytes matter here
	for _, c := range []Compression{CompressionOff, CompressionFast, CompressionDefault, CompressionMax} {
		tg := mem.New()
		r, err := Init(ctx, tg, []byte("pw"), Options{KDF: fastKDF, Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.LockAndLoad(ctx, false); err != nil {
			t.Fatal(err)
		}
		w := r.NewWriter(ctx)
		id := r.BlobID(plain)
		if _, err := w.SaveBlob(pack.DataBlob, id, plain); err != nil {
			t.Fatal(err)
		}
		chunkID := r.BlobID(chunk)
		if _, err := w.SaveChunk(chunkID, chunk); err != nil {
			t.Fatal(err)
		}
		treeID := r.BlobID(tree)
		if _, err := w.SaveBlob(pack.TreeBlob, treeID, tree); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		loc, _ := r.Index().Lookup(pack.DataBlob, id)
		stored[c] = int(loc.Entry.Length)
		chunkLoc, _ := r.Index().Lookup(pack.DataBlob, chunkID)
		storedChunk[c] = int(chunkLoc.Entry.Length)
		treeLoc, _ := r.Index().Lookup(pack.TreeBlob, treeID)
		storedTree[c] = int(treeLoc.Entry.Length)
		if compressed := loc.Entry.RawLength != 0; compressed == (c == CompressionOff) {
			t.Fatalf("%v: blob stored compressed=%v", c, compressed)
		}
		other := CompressionMax - c // a different setting reads it
		r2, err := Open(ctx, tg, []byte("pw"), Options{Compression: other})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r2.LockAndLoad(ctx, false); err != nil {
			t.Fatal(err)
		}
		got, err := r2.LoadBlob(ctx, pack.DataBlob, id, nil)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%v blob read with %v: %v", c, other, err)
		}
		got, err = r2.LoadBlob(ctx, pack.DataBlob, chunkID, nil)
		r2.Close()
		if err != nil || !bytes.Equal(got, chunk) {
			t.Fatalf("%v chunk read with %v: %v", c, other, err)
		}
	}
	t.Logf("1 MiB of log text stored as a whole file: %v; as a chunk: %v; as a tree: %v", stored, storedChunk, storedTree)
	for what, sizes := range map[string]map[Compression]int{"whole files": stored, "chunks": storedChunk} {
		if sizes[CompressionDefault] != sizes[CompressionFast] || sizes[CompressionMax] >= sizes[CompressionFast] ||
			sizes[CompressionOff] <= len(plain) || sizes[CompressionFast] >= len(plain)/2 {
			t.Fatalf("%s: default must compress as fast does, max better, off not at all: %v", what, sizes)
		}
	}
	// Trees: the default at level 3 (which of it and fast is smaller
	// depends on the data), max beats both.
	if storedTree[CompressionDefault] == storedTree[CompressionFast] || storedTree[CompressionMax] >= storedTree[CompressionFast] ||
		storedTree[CompressionMax] >= storedTree[CompressionDefault] || storedTree[CompressionOff] <= len(tree) {
		t.Fatalf("trees: default compressed as fast does, or max not the smallest: %v", storedTree)
	}
}
