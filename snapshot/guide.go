package snapshot

import "github.com/lifeboat-backup/lifeboat/repository/pack"

// guide steers the cutting of a changed file by the chunks of its version
// in the parent snapshot.
//
// The chunker starts afresh at every boundary, so wherever the file, from a
// boundary on, holds exactly the bytes of a chunk of the previous version,
// the chunker would cut that same chunk again. The guide proposes, at each
// boundary, the previous version's chunk that should start there (its
// pieces, when the file is stored in pieces); the cutter hashes those bytes
// and, when the keyed hashes are the recorded ids, takes the chunk without
// running the rolling hash over it (the keyed hash is the id every chunk
// needs anyway) and without saving it (the repository
// has it). When a hash differs, the chunker cuts as usual, and the guide
// finds its place again from the chunks it cuts:
//
//   - a chunk that ends where one of the previous version ended, allowing
//     for what was inserted or removed so far, means content changed in
//     place, and the previous version's next chunk is proposed;
//   - a chunk whose first blob is the first blob of one of the previous
//     version's chunks means content moved; its successor is proposed, and
//     the shift is updated.
//
// Proposals are only ever checked, never trusted, so the blobs are exactly
// those the chunker alone would cut.
type guide struct {
	ids    []pack.ID
	lens   []int
	chunks []int           // chunks[k]: the index of chunk k's first blob; then len(ids)
	ends   []int64         // ends[k]: where chunk k ended in the previous version
	byEnd  map[int64]int   // ends, inverted
	byID   map[pack.ID]int // the first chunk starting with each blob
	next   int             // the previous version's chunk proposed next; -1: none
	shift  int64           // offset now minus offset in the previous version
}

// newGuide makes a guide from the previous version's blobs; length gives
// a blob's plaintext length, or false if the repository does not have it,
// in which case there is no guide (nil). piece is the piece size of the
// file's layout (0: whole chunks); a chunk's pieces are full but for its
// last, so a shorter blob ends a chunk. (A chunk that is a whole number of
// pieces is taken together with the next one; that only makes the guide
// propose less.)
func newGuide(ids []pack.ID, length func(pack.ID) (int, bool), piece int) *guide {
	g := &guide{ids: ids, lens: make([]int, len(ids)), byEnd: map[int64]int{}, byID: map[pack.ID]int{}}
	var end int64
	for j, id := range ids {
		n, ok := length(id)
		if !ok || n <= 0 {
			return nil
		}
		if piece > 0 && n > piece {
			return nil // not this layout
		}
		if j == 0 || piece == 0 || g.lens[j-1] < piece {
			k := len(g.chunks)
			g.chunks = append(g.chunks, j)
			if _, dup := g.byID[id]; !dup {
				g.byID[id] = k
			}
			if k > 0 {
				g.ends = append(g.ends, end)
				g.byEnd[end] = k - 1
			}
		}
		g.lens[j] = n
		end += int64(n)
	}
	if len(ids) > 0 {
		g.ends = append(g.ends, end)
		g.byEnd[end] = len(g.chunks) - 1
	}
	g.chunks = append(g.chunks, len(ids))
	return g
}

// propose returns the blobs of the chunk expected at offset pos of a file
// of size bytes, if there is one. The previous version's last chunk ended
// with that file, not at a boundary, so it is proposed only to end this one.
func (g *guide) propose(pos, size int64) (ids []pack.ID, lens []int, ok bool) {
	k := g.next
	if k < 0 || k >= len(g.ends) {
		return nil, nil, false
	}
	start := int64(0)
	if k > 0 {
		start = g.ends[k-1]
	}
	if end := pos + g.ends[k] - start; end > size || (k == len(g.ends)-1 && end != size) {
		return nil, nil, false
	}
	from, to := g.chunks[k], g.chunks[k+1]
	return g.ids[from:to], g.lens[from:to], true
}

// matched records that the proposed chunk was found.
func (g *guide) matched() { g.next++ }

// cut records a chunk that the chunker cut, ending at offset end, whose
// first blob is first.
func (g *guide) cut(end int64, first pack.ID) {
	if k, ok := g.byEnd[end-g.shift]; ok {
		g.next = k + 1
		return
	}
	if k, ok := g.byID[first]; ok {
		g.next, g.shift = k+1, end-g.ends[k]
		return
	}
	g.next = -1
}
