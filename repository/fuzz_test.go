package repository

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

func FuzzDecodeTree(f *testing.F) {
	sub := pack.ID{1}
	good, _ := EncodeTree(&Tree{Nodes: []Node{
		{Name: "a", Type: TypeFile, Mode: 0o644, Content: []pack.ID{{2}}, Xattrs: []Xattr{{Name: "user.x", Value: []byte{0, 1}}}},
		{Name: "d", Type: TypeDir, Subtree: &sub},
		{Name: "l\xff", Type: TypeSymlink, LinkTarget: "/etc/\xfe"},
	}})
	f.Add(good)
	f.Add([]byte(`{"nodes":[{"name":"Li4=","type":"file"}]}`))
	for _, tr := range codecTrees() {
		b, _ := json.Marshal(tr)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParse(t, b) // the fast parser agrees with encoding/json
		tr, err := DecodeTree(b)
		if err != nil {
			return
		}
		if want, _ := json.Marshal(tr); !bytes.Equal(appendTree(nil, tr), want) {
			t.Fatalf("appendTree differs from json.Marshal:\n%s\n%s", appendTree(nil, tr), want)
		}
		for i, n := range tr.Nodes {
			if !ValidName(n.Name) || (i > 0 && tr.Nodes[i-1].Name >= n.Name) {
				t.Fatalf("accepted bad or unsorted name %q", n.Name)
			}
		}
		again, err := EncodeTree(tr)
		if err != nil {
			t.Fatalf("decoded tree does not encode: %v", err)
		}
		tr2, err := DecodeTree(again)
		if err != nil {
			t.Fatalf("re-encoded tree does not decode: %v", err)
		}
		if third, _ := EncodeTree(tr2); !bytes.Equal(third, again) {
			t.Fatalf("encoding is not stable:\n%s\n%s", again, third)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	b, _ := json.Marshal(&Snapshot{Host: "h", Paths: []string{"/data"}, Tree: pack.ID{1}})
	f.Add(b)
	f.Add([]byte(`{"tree":"00"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSnapshot(b)
		if err == nil && s.Tree.IsNull() {
			t.Fatal("accepted a snapshot without a tree")
		}
	})
}

func FuzzDecodeKeyFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"kdf":{"algorithm":"argon2id","time":1,"memory_kib":64,"threads":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="},"master":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := DecodeKeyFile(b)
		if err != nil {
			return
		}
		if kf.KDF.Validate() != nil {
			t.Fatal("accepted key file with invalid KDF parameters")
		}
	})
}
