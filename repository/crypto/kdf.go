package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are the argon2id parameters of one password key. They are stored
// with the key so that they can be raised later without breaking old keys.
type KDFParams struct {
	Algorithm string `json:"algorithm"` // "argon2id"
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

// DefaultKDF returns parameters with a fresh salt: 32 MiB and 4 passes on 2
// lanes (above OWASP's argon2id minimum of 19 MiB and 2 passes), about a
// tenth of a second here, and little memory at the start of every run.
func DefaultKDF() (KDFParams, error) {
	return NewKDF(4, 32*1024, 2)
}

// NewKDF returns argon2id parameters with a fresh random salt.
func NewKDF(time, memoryKiB uint32, threads uint8) (KDFParams, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return KDFParams{}, fmt.Errorf("random salt: %w", err)
	}
	return KDFParams{Algorithm: "argon2id", Time: time, MemoryKiB: memoryKiB, Threads: threads, Salt: salt}, nil
}

// Validate rejects parameters that are unknown, too weak to be ours, or so
// large that a damaged key file could exhaust memory.
func (p KDFParams) Validate() error {
	switch {
	case p.Algorithm != "argon2id":
		return fmt.Errorf("unknown key derivation %q", p.Algorithm)
	case p.Time < 1 || p.Time > 100:
		return fmt.Errorf("argon2id time %d out of range", p.Time)
	case p.MemoryKiB < 8 || p.MemoryKiB > 4*1024*1024:
		return fmt.Errorf("argon2id memory %d KiB out of range", p.MemoryKiB)
	case p.Threads < 1:
		return fmt.Errorf("argon2id threads %d out of range", p.Threads)
	case len(p.Salt) < 16:
		return fmt.Errorf("argon2id salt of %d bytes is too short", len(p.Salt))
	}
	return nil
}

// Wrap seals the master key under a key derived from password.
func Wrap(master *Key, password []byte, p KDFParams) ([]byte, error) {
	aead, err := p.derive(password)
	if err != nil {
		return nil, err
	}
	return seal(aead, nil, master.Bytes(), []byte("lifeboat master key")), nil
}

// Unwrap recovers the master key; ErrUnauthenticated means a wrong password
// (or a damaged key file).
func Unwrap(wrapped, password []byte, p KDFParams) (*Key, error) {
	aead, err := p.derive(password)
	if err != nil {
		return nil, err
	}
	raw, err := open(aead, nil, wrapped, []byte("lifeboat master key"))
	if err != nil {
		return nil, err
	}
	return KeyFromBytes(raw)
}

func (p KDFParams) derive(password []byte) (cipher.AEAD, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	k := argon2.IDKey(password, p.Salt, p.Time, p.MemoryKiB, p.Threads, 32)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}
