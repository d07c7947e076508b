package index

import (
	"errors"
	"reflect"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

func sample() *File {
	return &File{
		Supersedes: []pack.ID{{7}},
		Packs: []PackBlobs{
			{Pack: pack.ID{1}, Entries: []pack.Entry{
				{Type: pack.DataBlob, ID: pack.ID{10}, Offset: 0, Length: 100, RawLength: 300},
				{Type: pack.TreeBlob, ID: pack.ID{11}, Offset: 100, Length: 50},
			}},
			{Pack: pack.ID{2}, Entries: []pack.Entry{
				{Type: pack.DataBlob, ID: pack.ID{10}, Offset: 0, Length: 100},
			}},
		},
	}
}

func TestEncodeDecode(t *testing.T) {
	f := sample()
	got, err := Decode(f.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f) {
		t.Fatalf("decoded %+v, want %+v", got, f)
	}
	b := f.Encode()
	for i := 0; i < len(b); i++ {
		if _, err := Decode(b[:i]); !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
}

func TestIndexFirstLocationWins(t *testing.T) {
	x := New()
	x.AddFile(sample())
	l, ok := x.Lookup(pack.DataBlob, pack.ID{10})
	if !ok || l.Pack != (pack.ID{1}) || l.Entry.RawLength != 300 {
		t.Fatalf("lookup = %+v %v", l, ok)
	}
	if x.Has(pack.DataBlob, pack.ID{11}) || !x.Has(pack.TreeBlob, pack.ID{11}) {
		t.Fatal("blob types are not kept apart")
	}
	if x.Len() != 2 || len(x.Packs()) != 2 {
		t.Fatalf("len %d packs %d", x.Len(), len(x.Packs()))
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sample().Encode())
	f.Add([]byte("LBI1\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(file.Encode())
		if err != nil || !reflect.DeepEqual(again, file) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}
