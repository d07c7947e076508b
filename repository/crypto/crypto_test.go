package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"

	"github.com/zeebo/blake3"
)

func TestSealOpen(t *testing.T) {
	k, err := NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello, volume")
	sealed := k.Seal(nil, msg, []byte("ctx"))
	if len(sealed) != len(msg)+Overhead {
		t.Fatalf("sealed length %d", len(sealed))
	}
	got, err := k.Open(nil, sealed, []byte("ctx"))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := k.Open(nil, sealed, []byte("other")); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("wrong context: %v", err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := k.Open(nil, bad, []byte("ctx")); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	if _, err := k.Open(nil, sealed[:len(sealed)-1], []byte("ctx")); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("truncated: %v", err)
	}
	other, _ := NewRandomKey()
	if _, err := other.Open(nil, sealed, []byte("ctx")); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("other key: %v", err)
	}
}

func TestChunkIDKeyed(t *testing.T) {
	a, _ := NewRandomKey()
	b, _ := NewRandomKey()
	data := []byte("same bytes")
	if first, second := a.ChunkID(data), a.ChunkID(data); first != second {
		t.Fatal("chunk id not deterministic")
	}
	if a.ChunkID(data) == b.ChunkID(data) {
		t.Fatal("chunk id does not depend on the key")
	}
}

// ChunkID reuses hashers; an id must not depend on what was hashed before
// or on another goroutine hashing at the same time.
func TestChunkIDReusedHashers(t *testing.T) {
	k, _ := NewRandomKey()
	want := func(data []byte) [32]byte {
		h, err := blake3.NewKeyed(k.ID[:])
		if err != nil {
			t.Error(err)
			return [32]byte{}
		}
		h.Write(data)
		var id [32]byte
		h.Sum(id[:0])
		return id
	}
	sizes := []int{0, 1, 1023, 1024, 1025, 64 << 10, 3<<20 + 7, 5}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, n := range sizes {
				data := bytes.Repeat([]byte{byte(g*16 + i)}, n)
				if got := k.ChunkID(data); got != want(data) {
					t.Errorf("goroutine %d: id of %d bytes differs from a fresh hasher's", g, n)
				}
			}
		}()
	}
	wg.Wait()
}

func TestWrapUnwrap(t *testing.T) {
	master, _ := NewRandomKey()
	p, err := NewKDF(1, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Wrap(master, []byte("secret"), p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unwrap(w, []byte("secret"), p)
	if err != nil || !bytes.Equal(got.Bytes(), master.Bytes()) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := Unwrap(w, []byte("wrong"), p); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("wrong password: %v", err)
	}
	p.Algorithm = "md5"
	if _, err := Unwrap(w, []byte("secret"), p); err == nil {
		t.Fatal("unknown kdf accepted")
	}
}

func BenchmarkChunkID(b *testing.B) {
	k, _ := NewRandomKey()
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		k.ChunkID(data)
	}
}

func BenchmarkSeal(b *testing.B) {
	k, _ := NewRandomKey()
	data := make([]byte, 1<<20)
	dst := make([]byte, 0, len(data)+Overhead)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		k.Seal(dst[:0], data, nil)
	}
}

func TestOpenInPlace(t *testing.T) {
	k, _ := NewRandomKey()
	sealed := k.Seal(nil, []byte("in place"), nil)
	got, err := k.OpenInPlace(sealed, nil)
	if err != nil || string(got) != "in place" {
		t.Fatalf("%q %v", got, err)
	}
}

// BenchmarkHMACSHA256 is the alternative chunk id that BLAKE3 was chosen
// over; docs/design.md records both speeds.
func BenchmarkHMACSHA256(b *testing.B) {
	key := make([]byte, 32)
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		h := hmac.New(sha256.New, key)
		h.Write(data)
		h.Sum(nil)
	}
}
