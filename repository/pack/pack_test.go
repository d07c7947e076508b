package pack

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository/crypto"
)

func TestRoundTrip(t *testing.T) {
	key, _ := crypto.NewRandomKey()
	var out bytes.Buffer
	w := NewWriter(&out)
	blobs := [][]byte{[]byte("alpha"), {}, bytes.Repeat([]byte("z"), 5000)}
	for i, b := range blobs {
		if _, err := w.Add(key, DataBlob, ID{byte(i)}, b, 0); err != nil {
			t.Fatal(err)
		}
	}
	name, entries, size, err := w.Finish(key)
	data := out.Bytes()
	if err != nil || size != int64(len(data)) {
		t.Fatalf("finish: %v, size %d of %d", err, size, len(data))
	}
	if name != Hash(data) {
		t.Fatal("pack name is not the hash of its content")
	}
	n, err := HeaderLength(data, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	hdrStart := int64(len(data) - 4 - n)
	got, err := ParseHeader(key, data[hdrStart:len(data)-4], hdrStart)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(entries) {
		t.Fatalf("%d entries, want %d", len(got), len(entries))
	}
	for i, e := range got {
		if e != entries[i] {
			t.Fatalf("entry %d: %+v != %+v", i, e, entries[i])
		}
		plain, err := key.Open(nil, data[e.Offset:e.Offset+e.Length], BlobAD(e.Type, e.ID))
		if err != nil || !bytes.Equal(plain, blobs[i]) {
			t.Fatalf("blob %d: %v", i, err)
		}
		if e.PlainLength() != uint32(len(blobs[i])) {
			t.Fatalf("blob %d plain length %d", i, e.PlainLength())
		}
	}
	// A blob opened as another id must fail.
	e := got[0]
	if _, err := key.Open(nil, data[e.Offset:e.Offset+e.Length], BlobAD(DataBlob, ID{9})); !errors.Is(err, crypto.ErrUnauthenticated) {
		t.Fatalf("blob under wrong id: %v", err)
	}
}

func TestHeaderRejectsOverlap(t *testing.T) {
	hdr := []byte(headerMagic)
	e := make([]byte, EntrySize)
	PutEntry(e, Entry{Type: DataBlob, Offset: 0, Length: 100})
	hdr = append(hdr, e...)
	PutEntry(e, Entry{Type: DataBlob, Offset: 50, Length: 100})
	hdr = append(hdr, e...)
	if _, err := DecodeHeader(hdr, 1000); !errors.Is(err, ErrFormat) {
		t.Fatalf("overlapping entries: %v", err)
	}
	if _, err := DecodeHeader(hdr[:len(headerMagic)+EntrySize], 99); !errors.Is(err, ErrFormat) {
		t.Fatalf("entry past the data: %v", err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	e := make([]byte, EntrySize)
	PutEntry(e, Entry{Type: TreeBlob, Offset: 0, Length: 40, RawLength: 100})
	f.Add(append([]byte(headerMagic), e...), int64(1000))
	f.Add([]byte("LBP1"), int64(0))
	f.Fuzz(func(t *testing.T, hdr []byte, dataEnd int64) {
		entries, err := DecodeHeader(hdr, dataEnd)
		if err != nil {
			return
		}
		var end int64
		for _, e := range entries {
			if int64(e.Offset) < end || int64(e.Offset)+int64(e.Length) > dataEnd {
				t.Fatalf("accepted entry outside the data: %+v", e)
			}
			end = int64(e.Offset) + int64(e.Length)
		}
	})
}

func FuzzHeaderLength(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0}, int64(100))
	f.Fuzz(func(t *testing.T, tail []byte, size int64) {
		n, err := HeaderLength(tail, size)
		if err == nil && (int64(n)+4 > size || n > MaxHeaderLength) {
			t.Fatalf("accepted header length %d for size %d", n, size)
		}
	})
}
