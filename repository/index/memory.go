package index

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// record is one blob in memory: 46 bytes, of byte arrays only, so that an
// array of them has no padding. The pack is a number into Index.packs and
// the blob type is which table holds it. loc holds, little-endian, the
// pack number (4 bytes), the offset (4), the stored length (3) and the
// length before compression (3); a blob with a length that does not fit
// in 3 bytes (a tree of more than 16 MiB) has bigLength there, and its
// lengths in its table's big map.
type record struct {
	id  pack.ID
	loc [14]byte
}

// bigLength marks a record whose lengths are in table.big.
const bigLength = 1<<24 - 1

func (r *record) pack() uint32   { return binary.LittleEndian.Uint32(r.loc[0:]) }
func (r *record) offset() uint32 { return binary.LittleEndian.Uint32(r.loc[4:]) }
func (r *record) small(i int) uint32 {
	return uint32(r.loc[i]) | uint32(r.loc[i+1])<<8 | uint32(r.loc[i+2])<<16
}

func cmpRecord(a, b record) int { return cmpID(&a.id, &b.id) }

// cmpID orders ids by their bytes, deciding on the first eight (as one
// number) when they differ, as they almost always do.
func cmpID(a, b *pack.ID) int {
	x, y := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(b[:8])
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return bytes.Compare(a[8:], b[8:])
}

// table holds the blobs of one type: a sorted array that lookups search;
// the blobs of whole index files loaded since (runs: each file's sorted on
// its own), merged into the array in one pass before the next lookup; and
// the blobs of packs added one at a time (a backup's uploads), in a small
// map merged in when it grows past an eighth of the array (at least
// minPending). Adding n blobs costs O(n log n) in all, and memory stays at
// 46 bytes a blob plus the map's few.
type table struct {
	sorted  []record
	runs    [][]record // sorted and deduplicated, in the order loaded
	pending map[pack.ID]record
	// big holds the lengths of the blobs whose records say bigLength: of
	// the first location added, the one the records keep.
	big map[pack.ID][2]uint32
}

// record makes the record of e in pack number no.
func (t *table) record(e pack.Entry, no uint32) record {
	r := record{id: e.ID}
	binary.LittleEndian.PutUint32(r.loc[0:], no)
	binary.LittleEndian.PutUint32(r.loc[4:], e.Offset)
	length, raw := e.Length, e.RawLength
	if length >= bigLength || raw >= bigLength {
		if _, ok := t.big[e.ID]; !ok {
			if t.big == nil {
				t.big = map[pack.ID][2]uint32{}
			}
			t.big[e.ID] = [2]uint32{length, raw}
		}
		length, raw = bigLength, bigLength
	}
	for i := range 3 {
		r.loc[8+i], r.loc[11+i] = byte(length>>(8*i)), byte(raw>>(8*i))
	}
	return r
}

// entry is the blob r of type typ.
func (t *table) entry(r *record, typ pack.BlobType) pack.Entry {
	length, raw := r.small(8), r.small(11)
	if length == bigLength {
		b := t.big[r.id]
		length, raw = b[0], b[1]
	}
	return pack.Entry{Type: typ, ID: r.id, Offset: r.offset(), Length: length, RawLength: raw}
}

const minPending = 1 << 16

func (t *table) find(id pack.ID) (record, bool) {
	if r, ok := t.pending[id]; ok {
		return r, true
	}
	i, ok := slices.BinarySearchFunc(t.sorted, &id, func(r record, id *pack.ID) int { return cmpID(&r.id, id) })
	if !ok {
		return record{}, false
	}
	return t.sorted[i], true
}

// add records r unless its id is known (the first location stays).
func (t *table) add(r record) {
	if _, ok := t.find(r.id); ok {
		return
	}
	if t.pending == nil {
		t.pending = map[pack.ID]record{}
	}
	t.pending[r.id] = r
	if len(t.pending) >= max(minPending, len(t.sorted)/8) {
		t.merge()
	}
}

// merge moves the pending blobs into the sorted array.
func (t *table) merge() {
	if len(t.pending) == 0 {
		return
	}
	add := make([]record, 0, len(t.pending))
	for _, r := range t.pending {
		add = append(add, r)
	}
	t.pending = nil
	slices.SortFunc(add, cmpRecord)
	t.sorted = mergeRecords(t.sorted, add)
}

// addRun adds the blobs of one index file: sorted stably and deduplicated,
// so that of two locations of a blob in it the first stays.
func (t *table) addRun(run []record) {
	slices.SortStableFunc(run, cmpRecord)
	t.runs = append(t.runs, slices.CompactFunc(run, func(a, b record) bool { return a.id == b.id }))
}

// settle merges the runs into the array in one pass, so that memory peaks
// at the blobs twice, and of two locations of a blob the array's or the
// first loaded stays: O(n log files), where one stable sort of everything
// was O(n log² n).
func (t *table) settle() {
	if len(t.runs) == 0 {
		return
	}
	t.merge() // added before the runs: their locations stay
	runs := append([][]record{t.sorted}, t.runs...)
	t.runs = nil
	t.sorted = mergeRuns(runs)
}

// mergeRuns merges sorted, distinct runs into one new array; of the
// records of one blob, the one in the earliest run stays.
func mergeRuns(runs [][]record) []record {
	total := 0
	h := &runHeap{runs: runs}
	for i, r := range runs {
		total += len(r)
		if len(r) > 0 {
			h.at = append(h.at, cursor{run: i})
		}
	}
	heap.Init(h)
	out := make([]record, 0, total)
	for h.Len() > 0 {
		c := &h.at[0]
		r := &runs[c.run][c.pos]
		if len(out) == 0 || out[len(out)-1].id != r.id {
			out = append(out, *r)
		}
		if c.pos++; c.pos < len(runs[c.run]) {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return out
}

// cursor is a place in one run; runHeap orders cursors by the id there,
// then by run (earlier first).
type cursor struct{ run, pos int }

type runHeap struct {
	runs [][]record
	at   []cursor
}

func (h *runHeap) Len() int { return len(h.at) }
func (h *runHeap) Less(i, k int) bool {
	a, b := h.at[i], h.at[k]
	if c := cmpID(&h.runs[a.run][a.pos].id, &h.runs[b.run][b.pos].id); c != 0 {
		return c < 0
	}
	return a.run < b.run
}
func (h *runHeap) Swap(i, k int) { h.at[i], h.at[k] = h.at[k], h.at[i] }
func (h *runHeap) Push(x any)    { h.at = append(h.at, x.(cursor)) }
func (h *runHeap) Pop() any {
	c := h.at[len(h.at)-1]
	h.at = h.at[:len(h.at)-1]
	return c
}

// mergeRecords merges two sorted, distinct record arrays into a new one; a
// blob both hold keeps its location in a.
func mergeRecords(a, b []record) []record {
	merged := make([]record, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := cmpRecord(a[i], b[j]); {
		case c < 0:
			merged = append(merged, a[i])
			i++
		case c > 0:
			merged = append(merged, b[j])
			j++
		default: // known already: the first location stays
			merged = append(merged, a[i])
			i, j = i+1, j+1
		}
	}
	return append(append(merged, a[i:]...), b[j:]...)
}

func (t *table) len() int { return len(t.sorted) + len(t.pending) } // settled first

func (t *table) each(fn func(record)) {
	for _, r := range t.sorted {
		fn(r)
	}
	for _, r := range t.pending {
		fn(r)
	}
}

// Index is a concurrency-safe in-memory index: per blob type a table of
// 46-byte records, and the pack ids once each.
type Index struct {
	mu     sync.RWMutex
	packs  []pack.ID
	ends   []int64 // per pack: where its last indexed blob ends
	packNo map[pack.ID]uint32
	tables map[pack.BlobType]*table
	dirty  bool // some table has runs to merge
}

// New returns an empty index.
func New() *Index {
	return &Index{packNo: map[pack.ID]uint32{}, tables: map[pack.BlobType]*table{}}
}

func (x *Index) table(t pack.BlobType) *table {
	tb := x.tables[t]
	if tb == nil {
		tb = &table{}
		x.tables[t] = tb
	}
	return tb
}

// AddPack records the blobs of one pack. A blob already known keeps its
// first location.
func (x *Index) AddPack(id pack.ID, entries []pack.Entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.dirty {
		for _, tb := range x.tables {
			tb.settle()
		}
		x.dirty = false
	}
	no := x.packNumber(id)
	for _, e := range entries {
		x.ends[no] = max(x.ends[no], int64(e.Offset)+int64(e.Length))
		tb := x.table(e.Type)
		tb.add(tb.record(e, no))
	}
}

// AddFile records every pack of a decoded index file. Loading many files
// costs one sort: their blobs are merged in before the next lookup.
func (x *Index) AddFile(f *File) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dirty = true
	// Runs of exactly their size: a run holds its records until the
	// merge, which is when memory peaks.
	counts := map[pack.BlobType]int{}
	for _, p := range f.Packs {
		for _, e := range p.Entries {
			counts[e.Type]++
		}
	}
	runs := make(map[pack.BlobType][]record, len(counts))
	for t, n := range counts {
		runs[t] = make([]record, 0, n)
	}
	for _, p := range f.Packs {
		no := x.packNumber(p.Pack)
		for _, e := range p.Entries {
			x.ends[no] = max(x.ends[no], int64(e.Offset)+int64(e.Length))
			runs[e.Type] = append(runs[e.Type], x.table(e.Type).record(e, no))
		}
	}
	for t, run := range runs {
		x.table(t).addRun(run)
	}
}

// packNumber numbers a pack id (mu held).
func (x *Index) packNumber(id pack.ID) uint32 {
	no, ok := x.packNo[id]
	if !ok {
		no = uint32(len(x.packs))
		x.packs = append(x.packs, id)
		x.ends = append(x.ends, 0)
		x.packNo[id] = no
	}
	return no
}

// settled holds the read lock with every bulk blob merged in; the caller
// releases it with RUnlock.
func (x *Index) settled() {
	x.mu.RLock()
	if !x.dirty {
		return
	}
	x.mu.RUnlock()
	x.mu.Lock()
	for _, tb := range x.tables {
		tb.settle()
	}
	x.dirty = false
	x.mu.Unlock()
	x.mu.RLock() // a file added meanwhile is merged by the next reader
}

// Lookup finds a blob.
func (x *Index) Lookup(t pack.BlobType, id pack.ID) (Location, bool) {
	x.settled()
	defer x.mu.RUnlock()
	tb := x.tables[t]
	if tb == nil {
		return Location{}, false
	}
	r, ok := tb.find(id)
	if !ok {
		return Location{}, false
	}
	return Location{Pack: x.packs[r.pack()], Entry: tb.entry(&r, t)}, true
}

// Has reports whether a blob is indexed.
func (x *Index) Has(t pack.BlobType, id pack.ID) bool {
	_, ok := x.Lookup(t, id)
	return ok
}

// Len is the number of distinct blobs.
func (x *Index) Len() int {
	x.settled()
	defer x.mu.RUnlock()
	n := 0
	for _, tb := range x.tables {
		n += tb.len()
	}
	return n
}

// BlobsEnd returns where the last indexed blob of a pack ends (0 for a
// pack the index does not name): reading that many bytes gets every blob.
func (x *Index) BlobsEnd(id pack.ID) int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if no, ok := x.packNo[id]; ok {
		return x.ends[no]
	}
	return 0
}

// Packs returns every pack id that the index names.
func (x *Index) Packs() []pack.ID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return append([]pack.ID(nil), x.packs...)
}

// Each calls fn for every blob, in no particular order.
func (x *Index) Each(fn func(pack.BlobType, pack.ID, Location)) {
	x.settled()
	defer x.mu.RUnlock()
	for t, tb := range x.tables {
		tb.each(func(r record) {
			fn(t, r.id, Location{Pack: x.packs[r.pack()], Entry: tb.entry(&r, t)})
		})
	}
}
