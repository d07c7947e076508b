package index

import (
	"bytes"
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
// the blobs of whole index files loaded since (bulk), unsorted, sorted and
// merged in once before the next lookup; and the blobs of packs added one
// at a time (a backup's uploads), in a small map merged in when it grows
// past an eighth of the array (at least minPending). Adding n blobs costs
// O(n log n) in all, and memory stays at 46 bytes a blob plus the map's few.
type table struct {
	sorted  []record
	bulk    []record
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
	t.mergeSorted(add)
}

// settle merges the bulk blobs in: sorted (stably, so that of two
// locations of a blob the first loaded stays) and deduplicated.
func (t *table) settle() {
	if len(t.bulk) == 0 {
		return
	}
	t.merge() // added before the bulk blobs: their locations stay
	add := t.bulk
	t.bulk = nil
	slices.SortStableFunc(add, cmpRecord)
	add = slices.CompactFunc(add, func(a, b record) bool { return a.id == b.id })
	t.mergeSorted(add)
}

// mergeSorted merges sorted, distinct records into the array, allocating it
// once for the merged size; a blob the array has keeps its location there.
func (t *table) mergeSorted(add []record) {
	merged := make([]record, 0, len(t.sorted)+len(add))
	i, j := 0, 0
	for i < len(t.sorted) && j < len(add) {
		switch c := cmpRecord(t.sorted[i], add[j]); {
		case c < 0:
			merged = append(merged, t.sorted[i])
			i++
		case c > 0:
			merged = append(merged, add[j])
			j++
		default: // known already: the first location stays
			merged = append(merged, t.sorted[i])
			i, j = i+1, j+1
		}
	}
	merged = append(append(merged, t.sorted[i:]...), add[j:]...)
	t.sorted = merged
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
	dirty  bool // some table has bulk blobs
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
	for _, p := range f.Packs {
		no := x.packNumber(p.Pack)
		for _, e := range p.Entries {
			x.ends[no] = max(x.ends[no], int64(e.Offset)+int64(e.Length))
			tb := x.table(e.Type)
			tb.bulk = append(tb.bulk, tb.record(e, no))
		}
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
