package prune

import (
	"slices"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// A prune that crashed after copying the used blobs of a pack to repack
// (o1) left copies of them in a new pack (n) beside the blobs it had
// copied from a pack it dropped (o2). The next prune must keep those
// copies where they are: if it copies them once more (to n2), the prune
// after it finds n2 or n unneeded again, whichever sorts first, and the
// prunes never settle (a failure of TestCrashAtEveryStep, seen once).
func TestHomesSettleAfterACrashedRepack(t *testing.T) {
	id := func(b byte) pack.ID { return pack.ID{b} }
	blob := func(b byte, length uint32) pack.Entry {
		return pack.Entry{Type: pack.DataBlob, ID: id(b), Length: length}
	}
	a1, a2, b1, b2, b3 := blob(0xa1, 100), blob(0xa2, 100), blob(0xb1, 100), blob(0xb2, 100), blob(0xb3, 100)
	o1, n, o2 := id(0x10), id(0x20), id(0x30)
	entries := map[pack.ID][]pack.Entry{
		o1: {a1, a2, blob(0x01, 1000)}, // mostly unused: to repack
		n:  {a1, a2, b1, b2, b3},       // the crashed run's copies
		o2: {b1, b2, b3, blob(0x02, 1000)},
	}
	used := map[blobKey]struct{}{}
	for _, e := range []pack.Entry{a1, a2, b1, b2, b3} {
		used[blobKey{e.Type, e.ID}] = struct{}{}
	}
	// One prune: where each used blob stays, and what is copied (to a
	// new pack n2 that sorts after n, the order that showed the fault).
	round := func(entries map[pack.ID][]pack.Entry) (drop, repack []pack.ID, next map[pack.ID][]pack.Entry) {
		stored := map[pack.ID]int64{}
		for p := range entries {
			stored[p] = 1
		}
		packs := sortedPacks(entries)
		home := map[blobKey]pack.ID{}
		for _, p := range packs {
			homeUsed(home, used, p, entries[p])
		}
		drop, repack, keep := classify(packs, stored, entries, home, DefaultRepackUnused)
		if rehome(home, packs, entries, repack, keep) {
			drop, repack, keep = classify(packs, stored, entries, home, DefaultRepackUnused)
		}
		next = map[pack.ID][]pack.Entry{}
		for p := range keep {
			next[p] = entries[p]
		}
		var copied []pack.Entry
		for _, p := range repack {
			for _, e := range entries[p] {
				if home[blobKey{e.Type, e.ID}] == p {
					copied = append(copied, e)
				}
			}
		}
		if len(copied) > 0 {
			next[id(0x40)] = copied
		}
		return drop, repack, next
	}
	drop, repack, next := round(entries)
	if !slices.Equal(drop, []pack.ID{o1, o2}) || len(repack) != 0 {
		t.Fatalf("first prune: drop %v, repack %v; want o1 and o2 dropped (their blobs kept in n), nothing copied", drop, repack)
	}
	if _, ok := next[n]; !ok || len(next) != 1 {
		t.Fatalf("first prune keeps %v, want n alone", sortedPacks(next))
	}
	if drop, repack, _ := round(next); len(drop)+len(repack) != 0 {
		t.Fatalf("the prune after it still drops %v and repacks %v", drop, repack)
	}
}
