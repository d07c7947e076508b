package snapshot

import "github.com/lifeboat-backup/lifeboat/repository/pack"

// guide steers the cutting of a changed file by the chunks of its version
// in the parent snapshot.
//
// The chunker starts afresh at every boundary, so wherever the file, from a
// boundary on, holds exactly the bytes of a chunk of the previous version,
// the chunker would cut that same chunk again. The guide proposes, at each
// boundary, the previous version's chunk that should start there; the
// cutter hashes that many bytes and, when the keyed hash is the recorded
// id, takes the chunk without running the rolling hash over it (BLAKE3
// runs at about five times the Rabin fingerprint's speed here) and without
// saving it (the repository has it). When the hash differs, the chunker
// cuts as usual, and the guide finds its place again from the chunks it
// cuts:
//
//   - a chunk that ends where one of the previous version ended, allowing
//     for what was inserted or removed so far, means content changed in
//     place, and the previous version's next chunk is proposed;
//   - a chunk with the id of one of the previous version's chunks means
//     content moved; its successor is proposed, and the shift is updated.
//
// Proposals are only ever checked, never trusted, so the chunks are exactly
// those the chunker alone would cut.
type guide struct {
	ids   []pack.ID
	ends  []int64         // ends[j]: where chunk j ended in the previous version
	byEnd map[int64]int   // ends, inverted
	byID  map[pack.ID]int // the first chunk with each id
	next  int             // the previous version's chunk proposed next; -1: none
	shift int64           // offset now minus offset in the previous version
}

// newGuide makes a guide from the previous version's chunks; length gives
// a chunk's plaintext length, or false if the repository does not have it,
// in which case there is no guide (nil).
func newGuide(ids []pack.ID, length func(pack.ID) (int, bool)) *guide {
	g := &guide{ids: ids, ends: make([]int64, len(ids)), byEnd: make(map[int64]int, len(ids)), byID: make(map[pack.ID]int, len(ids))}
	var end int64
	for j, id := range ids {
		n, ok := length(id)
		if !ok || n <= 0 {
			return nil
		}
		end += int64(n)
		g.ends[j] = end
		g.byEnd[end] = j
		if _, dup := g.byID[id]; !dup {
			g.byID[id] = j
		}
	}
	return g
}

// propose returns the chunk expected at offset pos of a file of size
// bytes, if there is one. The previous version's last chunk ended with
// that file, not at a boundary, so it is proposed only to end this one.
func (g *guide) propose(pos, size int64) (id pack.ID, n int, ok bool) {
	j := g.next
	if j < 0 || j >= len(g.ids) {
		return id, 0, false
	}
	start := int64(0)
	if j > 0 {
		start = g.ends[j-1]
	}
	n = int(g.ends[j] - start)
	if end := pos + int64(n); end > size || (j == len(g.ids)-1 && end != size) {
		return id, 0, false
	}
	return g.ids[j], n, true
}

// matched records that the proposed chunk was found.
func (g *guide) matched() { g.next++ }

// cut records a chunk that the chunker cut, ending at offset end.
func (g *guide) cut(end int64, id pack.ID) {
	if j, ok := g.byEnd[end-g.shift]; ok {
		g.next = j + 1
		return
	}
	if j, ok := g.byID[id]; ok {
		g.next, g.shift = j+1, end-g.ends[j]
		return
	}
	g.next = -1
}
