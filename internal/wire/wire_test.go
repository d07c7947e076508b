package wire

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Before is the order of a depth-first walk with sorted names: checked
// against such a walk of random trees (names chosen to trip a plain string
// comparison: "a/b" against "a.b", "a-b", "a").
func TestBeforeIsWalkOrder(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	names := []string{"a", "a.b", "a-b", "b", "a b", "A", "\xff", "0"}
	for round := 0; round < 200; round++ {
		var walk []string
		var build func(prefix string, depth int)
		build = func(prefix string, depth int) {
			var kids []string
			for _, n := range names {
				if r.IntN(3) == 0 {
					kids = append(kids, n)
				}
			}
			sort.Strings(kids)
			for _, k := range kids {
				p := strings.TrimPrefix(prefix+"/"+k, "/")
				walk = append(walk, p)
				if depth < 3 && r.IntN(2) == 0 {
					build(p, depth+1)
				}
			}
		}
		build("", 0)
		got := slices.Clone(walk)
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		sort.Slice(got, func(i, j int) bool { return Before(got[i], got[j]) })
		if !slices.Equal(got, walk) {
			t.Fatalf("round %d: sorted by Before\n%q\nwalk order\n%q", round, got, walk)
		}
	}
}

func TestSigRoundTrip(t *testing.T) {
	in := SigMsg{Path: "dir/\xffname", Size: 40000, Blocks: []BlockHash{HashBlock([]byte("a")), HashBlock([]byte("b")), HashBlock(nil)}}
	out, err := DecodeSig(EncodeSig(in))
	if err != nil || out.Path != in.Path || out.Size != in.Size || !slices.Equal(out.Blocks, in.Blocks) {
		t.Fatalf("%+v %v", out, err)
	}
	for _, bad := range [][]byte{nil, {5, 'a'}, append(EncodeSig(in), 1)} {
		if _, err := DecodeSig(bad); !errors.Is(err, ErrStream) {
			t.Fatalf("DecodeSig(%q): %v", bad, err)
		}
	}
}

// Frames come back as written; a truncated stream or an oversized frame
// is a stream error, not a crash or a huge allocation.
func TestFrames(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	if err := w.Frame(Entry, []byte("one"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := w.Frame(End); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	whole := slices.Clone(b.Bytes())
	r := NewReader(&b)
	if k, p, err := r.Next(); k != Entry || string(p) != "onetwo" || err != nil {
		t.Fatalf("%q %q %v", k, p, err)
	}
	if k, p, err := r.Next(); k != End || len(p) != 0 || err != nil {
		t.Fatalf("%q %q %v", k, p, err)
	}
	if _, _, err := NewReader(bytes.NewReader(whole[:4])).Next(); !errors.Is(err, ErrStream) {
		t.Fatalf("truncated: %v", err)
	}
	if _, _, err := NewReader(bytes.NewReader([]byte{Data, 0xff, 0xff, 0xff, 0xff, 0x0f})).Next(); !errors.Is(err, ErrStream) {
		t.Fatalf("oversized: %v", err)
	}
}
