package index

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

func randomID(rng *rand.Rand) pack.ID {
	var id pack.ID
	for i := 0; i < len(id); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			id[i+j] = byte(v >> (8 * j))
		}
	}
	return id
}

// The compact index answers as a map of first locations would, through
// many merges, with blobs of both types and ids added twice.
func TestIndexMatchesAMap(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	x := New()
	type key struct {
		t  pack.BlobType
		id pack.ID
	}
	want := map[key]Location{}
	var ids []pack.ID
	for p := 0; p < 3000; p++ {
		packID := randomID(rng)
		var entries []pack.Entry
		for b := 0; b < 100; b++ {
			typ := pack.DataBlob
			if rng.IntN(10) == 0 {
				typ = pack.TreeBlob
			}
			id := randomID(rng)
			if len(ids) > 0 && rng.IntN(20) == 0 {
				id = ids[rng.IntN(len(ids))] // stored again: the first location stays
			}
			ids = append(ids, id)
			e := pack.Entry{Type: typ, ID: id, Offset: uint32(b * 1000), Length: 900, RawLength: uint32(rng.IntN(2000))}
			switch rng.IntN(50) { // lengths past 3 bytes (large trees), stored or raw
			case 0:
				e.Length = bigLength + uint32(rng.IntN(1<<28))
			case 1:
				e.RawLength = bigLength + uint32(rng.IntN(1<<28))
			case 2:
				e.Length, e.RawLength = bigLength-1, bigLength-1
			}
			entries = append(entries, e)
			if _, ok := want[key{typ, id}]; !ok {
				want[key{typ, id}] = Location{Pack: packID, Entry: e}
			}
		}
		// Index files loaded, then a backup adding packs, then more index
		// files (another host's), with a few lookups in between.
		if p < 1200 || p >= 2800 {
			x.AddFile(&File{Packs: []PackBlobs{{Pack: packID, Entries: entries}}})
		} else {
			x.AddPack(packID, entries)
		}
		if p%500 == 0 {
			x.Has(pack.DataBlob, entries[0].ID)
		}
	}
	if x.Len() != len(want) {
		t.Fatalf("Len %d, want %d", x.Len(), len(want))
	}
	for k, l := range want {
		got, ok := x.Lookup(k.t, k.id)
		if !ok || got != l {
			t.Fatalf("Lookup(%s %s) = %+v %v, want %+v", k.t, k.id.Short(), got, ok, l)
		}
	}
	for i := 0; i < 1000; i++ {
		if x.Has(pack.DataBlob, randomID(rng)) {
			t.Fatal("an unknown id is found")
		}
	}
	seen := 0
	x.Each(func(typ pack.BlobType, id pack.ID, l Location) {
		if want[key{typ, id}] != l {
			t.Fatalf("Each gave %s %s at %+v", typ, id.Short(), l)
		}
		seen++
	})
	if seen != len(want) {
		t.Fatalf("Each visited %d of %d", seen, len(want))
	}
}

// A record takes 46 bytes, also in an array.
func TestRecordSize(t *testing.T) {
	if n := unsafe.Sizeof([2]record{}); n != 2*46 {
		t.Fatalf("two records take %d bytes", n)
	}
}

// Lookups run beside additions.
func TestIndexConcurrent(t *testing.T) {
	x := New()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for p := 0; p < 80; p++ { // 80,000 blobs in all: at least one merge
				var entries []pack.Entry
				for b := 0; b < 250; b++ {
					entries = append(entries, pack.Entry{Type: pack.DataBlob, ID: randomID(r), Length: 100})
				}
				x.AddPack(randomID(r), entries)
				for _, e := range entries[:10] {
					if !x.Has(pack.DataBlob, e.ID) {
						t.Error("a blob just added is not found")
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if x.Len() != 4*80*250 {
		t.Fatalf("Len %d", x.Len())
	}
}

// BenchmarkLoad10M loads 10 million blobs (1,000 index files of 100 packs
// of 100 blobs) and reports the memory each costs, the load time (random
// ids included) and lookups per second.
func BenchmarkLoad10M(b *testing.B) {
	const packs, perPack = 100_000, 100
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		x := New()
		var probe []pack.ID
		// As LoadIndex loads them: index files of 100 packs each.
		for p := 0; p < packs; p += 100 {
			f := &File{}
			for q := 0; q < 100; q++ {
				entries := make([]pack.Entry, perPack)
				for j := range entries {
					entries[j] = pack.Entry{Type: pack.DataBlob, ID: randomID(rng), Offset: uint32(j) * 4096, Length: 4000}
				}
				f.Packs = append(f.Packs, PackBlobs{Pack: randomID(rng), Entries: entries})
			}
			probe = append(probe, f.Packs[0].Entries[0].ID)
			x.AddFile(f)
		}
		x.Has(pack.DataBlob, probe[0]) // the first lookup settles the loaded files
		load := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		n := x.Len()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "bytes/blob")
		b.ReportMetric(load.Seconds(), "load-s")
		start = time.Now()
		const lookups = 1_000_000
		for k := 0; k < lookups; k++ {
			if !x.Has(pack.DataBlob, probe[k%len(probe)]) {
				b.Fatal("lost a blob")
			}
		}
		b.ReportMetric(lookups/time.Since(start).Seconds(), "lookups/s")
		runtime.KeepAlive(x)
	}
}

// Lookups of random known ids in an index of a million blobs, as a
// restore or a guided backup makes them (one per blob of a file).
func BenchmarkLookup1M(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 9))
	x := New()
	var ids []pack.ID
	for p := 0; p < 10_000; p++ {
		entries := make([]pack.Entry, 100)
		for j := range entries {
			entries[j] = pack.Entry{Type: pack.DataBlob, ID: randomID(rng), Offset: uint32(j) * 4096, Length: 4000}
			ids = append(ids, entries[j].ID)
		}
		x.AddFile(&File{Packs: []PackBlobs{{Pack: randomID(rng), Entries: entries}}})
	}
	x.Has(pack.DataBlob, ids[0])
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if !x.Has(pack.DataBlob, ids[i%len(ids)]) {
			b.Fatal("lost a blob")
		}
	}
}
