// Package crypto seals repository objects and wraps the master key.
//
// Every stored object is sealed with AES-256-GCM under the repository's
// master key: nonce (12 random bytes) || ciphertext || tag (16 bytes).
// Callers bind context (object kind and name) as additional data, so that a
// valid object moved to another place fails to open. Random 96-bit nonces
// stay safe for well over 2^32 seals per key, far more objects than a
// repository of chunks averaging 512 KiB will hold below 2 PiB.
//
// Chunk ids are keyed BLAKE3 hashes of the plaintext under a second,
// independent 32-byte key, so that the store cannot confirm guessed content.
package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/zeebo/blake3"
)

// Sizes of the sealed format.
const (
	NonceSize = 12
	TagSize   = 16
	Overhead  = NonceSize + TagSize
)

// ErrUnauthenticated means a sealed object failed authentication: it was
// damaged, truncated, moved, or sealed under another key.
var ErrUnauthenticated = errors.New("authentication failed")

// Key is the master key of a repository.
type Key struct {
	Encrypt [32]byte `json:"encrypt"` // AES-256-GCM key
	ID      [32]byte `json:"id"`      // keyed BLAKE3 key for chunk ids

	aead    cipher.AEAD
	hashers sync.Pool // of *blake3.Hasher keyed with ID; a new one is ~10 KiB
}

// NewRandomKey draws a fresh master key.
func NewRandomKey() (*Key, error) {
	k := &Key{}
	if _, err := rand.Read(k.Encrypt[:]); err != nil {
		return nil, fmt.Errorf("random key: %w", err)
	}
	if _, err := rand.Read(k.ID[:]); err != nil {
		return nil, fmt.Errorf("random key: %w", err)
	}
	return k, k.init()
}

// KeyFromBytes rebuilds a key from its 64-byte form (Encrypt || ID).
func KeyFromBytes(b []byte) (*Key, error) {
	if len(b) != 64 {
		return nil, fmt.Errorf("master key: %d bytes, want 64", len(b))
	}
	k := &Key{}
	copy(k.Encrypt[:], b[:32])
	copy(k.ID[:], b[32:])
	return k, k.init()
}

// Bytes returns the 64-byte form of the key.
func (k *Key) Bytes() []byte {
	return append(append([]byte{}, k.Encrypt[:]...), k.ID[:]...)
}

func (k *Key) init() error {
	block, err := aes.NewCipher(k.Encrypt[:])
	if err != nil {
		return fmt.Errorf("aes: %w", err)
	}
	k.aead, err = cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("gcm: %w", err)
	}
	return nil
}

// Seal appends the sealed form of plaintext to dst.
func (k *Key) Seal(dst, plaintext, additional []byte) []byte {
	return seal(k.aead, dst, plaintext, additional)
}

// Open authenticates and decrypts sealed, appending the plaintext to dst.
func (k *Key) Open(dst, sealed, additional []byte) ([]byte, error) {
	return open(k.aead, dst, sealed, additional)
}

// OpenInPlace authenticates and decrypts sealed, reusing its storage for
// the plaintext. sealed must not be used afterwards.
func (k *Key) OpenInPlace(sealed, additional []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the seal", ErrUnauthenticated, len(sealed))
	}
	return open(k.aead, sealed[NonceSize:NonceSize], sealed, additional)
}

// ChunkID returns the keyed hash that names a chunk of plaintext.
func (k *Key) ChunkID(plaintext []byte) [32]byte {
	h, _ := k.hashers.Get().(*blake3.Hasher)
	if h == nil {
		var err error
		if h, err = blake3.NewKeyed(k.ID[:]); err != nil {
			panic(err) // only for a key that is not 32 bytes
		}
	}
	_, _ = h.Write(plaintext)
	var id [32]byte
	h.Sum(id[:0])
	h.Reset()
	k.hashers.Put(h)
	return id
}

func seal(aead cipher.AEAD, dst, plaintext, additional []byte) []byte {
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never on Linux
	}
	dst = append(dst, nonce[:]...)
	return aead.Seal(dst, nonce[:], plaintext, additional)
}

func open(aead cipher.AEAD, dst, sealed, additional []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the seal", ErrUnauthenticated, len(sealed))
	}
	out, err := aead.Open(dst, sealed[:NonceSize], sealed[NonceSize:], additional)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	return out, nil
}
