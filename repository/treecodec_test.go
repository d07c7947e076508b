package repository

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// codecTrees hold every field, at its zero, empty and extreme values.
func codecTrees() []*Tree {
	sub := pack.ID{0xab, 0xcd}
	return []*Tree{
		{},
		{Nodes: []Node{}},
		{Nodes: []Node{
			{Name: "a", Type: TypeFile, Mode: 0o4755, UID: math.MaxUint32, GID: 7, ModTime: -1, ChangeTime: math.MaxInt64,
				Inode: math.MaxUint64, Device: 1, Links: 2, Size: 1 << 40, Sparse: true,
				Xattrs:  []Xattr{{Name: "security.capability", Value: []byte{1, 2, 3}}, {Name: "user.empty", Value: []byte{}}, {Name: "user.nil"}},
				Content: []pack.ID{{1}, {2}, {0xff}}},
			{Name: "b\xff\x00\"<&>", Type: TypeSymlink, LinkTarget: "/etc/\xfe\n"},
			{Name: "c", Type: TypeChar, Rdev: 0x0501, ModTime: math.MinInt64},
			{Name: "d", Type: TypeDir, Subtree: &sub},
			{Name: "e", Type: "odd \"type\" <with> & \u2028 \x01 \xff", Xattrs: []Xattr{{Name: "user.\u00e9<>&\"\\", Value: []byte("v")}}},
			{Name: "f", Type: TypeFile, Content: []pack.ID{}, Xattrs: []Xattr{}},
		}},
	}
}

// appendTree writes what json.Marshal writes, and parseTree reads it back
// as json.Unmarshal does.
func TestTreeCodecMatchesEncodingJSON(t *testing.T) {
	for i, tr := range codecTrees() {
		want, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		got := appendTree(nil, tr)
		if string(got) != string(want) {
			t.Fatalf("tree %d:\nappendTree %s\njson       %s", i, got, want)
		}
		// Strings that need escaping are left to encoding/json; the rest
		// must be read by the fast parser.
		if !checkParse(t, want) && allPlain(tr) {
			t.Fatalf("tree %d: parseTree refused what appendTree wrote:\n%s", i, want)
		}
		plain := &Tree{}
		for _, n := range tr.Nodes {
			if plain.Nodes = append(plain.Nodes, n); !allPlain(plain) {
				plain.Nodes = plain.Nodes[:len(plain.Nodes)-1]
			}
		}
		if b := appendTree(nil, plain); !checkParse(t, b) {
			t.Fatalf("tree %d without escaped strings: parseTree refused it:\n%s", i, b)
		}
	}
}

// allPlain reports whether every string of tr that is not base64 is
// written by encoding/json as is.
func allPlain(tr *Tree) bool {
	for _, n := range tr.Nodes {
		if !plainString(n.Type) {
			return false
		}
		for _, x := range n.Xattrs {
			if !plainString(x.Name) {
				return false
			}
		}
	}
	return true
}

// checkParse fails if parseTree accepts b and decodes it other than
// json.Unmarshal would. It reports whether parseTree accepted it.
func checkParse(t *testing.T, b []byte) bool {
	t.Helper()
	fast, err := parseTree(b)
	if err != nil {
		return false
	}
	var slow Tree
	if err := json.Unmarshal(b, &slow); err != nil {
		t.Fatalf("parseTree accepted what encoding/json refuses (%v):\n%q", err, b)
	}
	if !reflect.DeepEqual(fast, &slow) {
		t.Fatalf("parseTree and encoding/json differ on %q:\n%#v\n%#v", b, fast, &slow)
	}
	return true
}

// Input that is valid JSON but not canonical goes to encoding/json.
func TestTreeParserLeavesOtherFormsToEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"nodes": []}`,
		`{"nodes":[{"type":"file","name":"YQ=="}]}`,
		`{"nodes":[{"name":"YQ==","type":"file","mode":0644}]}`,
		`{"nodes":[{"name":"YQ==","type":"file","mode":1e3}]}`,
		`{"nodes":[{"name":"YQ==","type":"fi\u006ce","mode":1,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0}]}`,
		`{"nodes":[{"name":"YQ==","type":"file","mode":1,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0,"extra":1}]}`,
		`{"nodes":[{"name":"YQ==","type":"file","mode":4294967296,"uid":0,"gid":0,"mtime_ns":0,"ctime_ns":0}]}`,
		`{"nodes":null} `,
	} {
		if checkParse(t, []byte(in)) {
			t.Errorf("parseTree accepted a non-canonical form: %s", in)
		}
	}
	tr, err := DecodeTree([]byte(`{"nodes": [ {"type":"file", "name":"YQ==", "mode": 420} ]}`))
	if err != nil || len(tr.Nodes) != 1 || tr.Nodes[0].Name != "a" || tr.Nodes[0].Mode != 0o644 {
		t.Fatalf("DecodeTree of a spaced-out tree: %+v %v", tr, err)
	}
}

// The hand-written codec against encoding/json, on a directory of 100 files.
func BenchmarkTreeCodec(b *testing.B) {
	tr := &Tree{}
	for i := range 100 {
		tr.Nodes = append(tr.Nodes, Node{Name: string(rune('a'+i/26)) + string(rune('a'+i%26)), Type: TypeFile, Mode: 0o644,
			ModTime: 1700000000123456789, ChangeTime: 1700000000123456789, Size: 12345, Content: []pack.ID{{byte(i)}}})
	}
	raw, _ := EncodeTree(tr)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := parseTree(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			var t Tree
			if err := json.Unmarshal(raw, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			appendTree(nil, tr)
		}
	})
	b.Run("encode-encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := json.Marshal(tr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
