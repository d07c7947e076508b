package snapshot

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// mapped writes data to a file and maps it read-only.
func mapped(t *testing.T, data []byte) []byte {
	t.Helper()
	_, f := writeOpen(t, data)
	m, err := unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(m) })
	return m
}

// guideFor cuts data and returns a guide made from its blobs.
func guideFor(t *testing.T, data []byte, piece int) *guide {
	t.Helper()
	ids, lens, _ := cutAll(t, smallChunks(t), data, piece, nil)
	g := guideOf(ids, lens, piece)
	if g == nil || len(g.ends) < 20 {
		t.Fatal("no guide, or one of few chunks")
	}
	return g
}

func testHash(b []byte) pack.ID { return pack.ID(blake3.Sum256(b)) }

// Over an unchanged file every chunk's hashes come from the prehasher and
// are the recorded ids; a chunk asked for at another offset than the one
// it was hashed at gets none; after the guide's shift changes, the chunks
// are hashed at their new offsets.
func TestPrehasherFollowsGuide(t *testing.T) {
	const piece = 1 << 10
	data := treetest.RandomBytes(3, 4<<20)
	m := mapped(t, data)
	g := guideFor(t, data, piece)
	p := newPrehasher(m, g, testHash)
	defer p.close()
	pos := 0
	for k := range g.ends {
		p.fill(pos)
		got := p.take(k, pos)
		want := g.ids[g.chunks[k]:g.chunks[k+1]]
		if !slices.Equal(got, want) {
			t.Fatalf("chunk %d at %d: prehashed %d ids, want the %d recorded", k, pos, len(got), len(want))
		}
		g.matched()
		pos = int(g.ends[k])
	}

	g.next, g.shift = 5, 0
	p.fill(0)
	if got := p.take(5, int(g.ends[4])+1); got != nil {
		t.Fatal("a chunk was taken at an offset it was not hashed at")
	}
	// The file as if 100 bytes were inserted before chunk 7 (the guide
	// found chunk 7 there): the chunks from 7 on are hashed 100 bytes on.
	shifted := slices.Concat(data[:g.ends[6]], make([]byte, 100), data[g.ends[6]:])
	m2 := mapped(t, shifted)
	p2 := newPrehasher(m2, g, testHash)
	defer p2.close()
	g.next, g.shift = 8, 100
	pos = int(g.ends[7]) + 100
	for k := 8; k < len(g.ends); k++ {
		p2.fill(pos)
		if got, want := p2.take(k, pos), g.ids[g.chunks[k]:g.chunks[k+1]]; !slices.Equal(got, want) {
			t.Fatalf("shifted chunk %d: prehashed %d ids, want the %d recorded", k, len(got), len(want))
		}
		g.matched()
		pos = int(g.ends[k]) + 100
	}
}

// A guided cut of a file truncated under it gives errShrunk, whether the
// prehasher's workers or the cutter touch the lost pages first.
func TestGuidedCutTruncated(t *testing.T) {
	cfg := testConfig(t)
	data := treetest.RandomBytes(4, 48<<20)
	ids, lens, _ := cutAll(t, cfg, data, 0, nil)
	for _, keep := range []int64{0, 1 << 20, 20 << 20} {
		p, f := writeOpen(t, data)
		mc, err := newMapCutter(f, int64(len(data)), cfg, 0, guideOf(ids, lens, 0), testHash)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, keep); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 0, cfg.MaxChunkSize)
		var n int
		for {
			_, err = mc.next(buf)
			if err != nil {
				break
			}
			n++
		}
		mc.close()
		f.Close()
		if !errors.Is(err, errShrunk) {
			t.Fatalf("truncated to %d: after %d blobs: want errShrunk, got %v", keep, n, err)
		}
	}
}
