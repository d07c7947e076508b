// Package repository is lifeboat's content-addressed store: keys and
// encryption, compression, pack files, the index, trees, snapshots and locks,
// all kept in a targets.Target. docs/design.md describes the format.
package repository

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/restic/chunker"
)

// Errors a user must be able to tell apart.
var (
	// ErrNotRepository: the location holds no lifeboat repository.
	ErrNotRepository = errors.New("no repository found")
	// ErrRepositoryExists: init found a repository already.
	ErrRepositoryExists = errors.New("a repository already exists")
)

// Options tune a repository handle. The zero value is the default.
type Options struct {
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// KDF draws parameters for new password keys (crypto.DefaultKDF if nil).
	KDF func() (crypto.KDFParams, error)
	// PackSize is the pack target size for Init (DefaultPackSize if 0).
	PackSize int
	// Uploads is the number of packs written concurrently (2 if 0).
	Uploads int
	// NoLock opens a handle that reads without holding a lock (read-only
	// commands, a read-only copy of a repository): LoadIndex then does not
	// require one. A prune running meanwhile can make a read fail; it can
	// never make such a handle report data as stored.
	NoLock bool
	// Compression is how new data and tree blobs are compressed (index
	// files are always compressed at the default level).
	Compression Compression
	// OnDamaged is told about each listed object that LoadIndex or
	// Snapshots left out because it is damaged (ErrDamaged); the command
	// carries on with the rest. Nil: ignored.
	OnDamaged func(name string, err error)
	// CacheDir, if set, is the root of the local cache of snapshot and
	// index files (cache.go); the repository uses CacheDir/<its id>.
	CacheDir string
}

func (o Options) damaged(name string, err error) {
	if o.OnDamaged != nil {
		o.OnDamaged(name, err)
	}
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) kdf() (crypto.KDFParams, error) {
	if o.KDF != nil {
		return o.KDF()
	}
	return crypto.DefaultKDF()
}

func (o Options) uploads() int {
	if o.Uploads > 0 {
		return o.Uploads
	}
	return 2
}

// Repository is an open repository. It is safe for concurrent use.
type Repository struct {
	target   targets.Target
	key      *crypto.Key
	keyID    pack.ID
	cfg      Config
	opts     Options
	idx      *index.Index
	meta     *zstd.Encoder // index files
	treeEnc  *zstd.Encoder // trees; nil: stored uncompressed
	dataEnc  *zstd.Encoder // file data; nil: stored uncompressed
	encoders map[zstd.EncoderLevel]*zstd.Encoder
	dec      *zstd.Decoder
	trees    *treePackCache
	cache    *cache // nil: none

	mu         sync.Mutex
	indexFiles []pack.ID    // index files loaded or written by this handle
	marked     *index.Index // packs marked for deletion, for reads only (Lookup)

	locks []*Lock // held through this handle
}

// Init creates a repository in an empty location and returns it open.
func Init(ctx context.Context, t targets.Target, password []byte, opts Options) (*Repository, error) {
	if _, err := t.Stat(ctx, "config"); err == nil {
		return nil, fmt.Errorf("%w at %s", ErrRepositoryExists, t.Location())
	} else if !errors.Is(err, targets.ErrNotFound) {
		return nil, fmt.Errorf("init %s: %w", t.Location(), err)
	}
	pol, err := chunker.RandomPolynomial()
	if err != nil {
		return nil, fmt.Errorf("chunker polynomial: %w", err)
	}
	var rid [16]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return nil, err
	}
	cfg := Config{
		Version:           FormatVersion,
		ID:                hex.EncodeToString(rid[:]),
		ChunkerPolynomial: pol,
		MinChunkSize:      DefaultMinChunk,
		MaxChunkSize:      DefaultMaxChunk,
		AverageChunkBits:  DefaultAvgBits,
		PieceSize:         DefaultPieceSize,
		PackSize:          DefaultPackSize,
		Chunker:           ChunkerGear,
	}
	if opts.PackSize != 0 {
		cfg.PackSize = opts.PackSize
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	master, err := crypto.NewRandomKey()
	if err != nil {
		return nil, err
	}
	kdf, err := opts.kdf()
	if err != nil {
		return nil, err
	}
	kb, err := newKeyFile(master, password, kdf, opts.now())
	if err != nil {
		return nil, err
	}
	r, err := newRepository(t, master, cfg, opts)
	if err != nil {
		return nil, err
	}
	if r.keyID, err = putKeyFile(ctx, t, kb); err != nil {
		return nil, err
	}
	// The config is written last: a location without it is no repository,
	// so an interrupted init can simply be run again.
	cb, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	sealed := master.Seal(nil, cb, KindConfig.ad())
	if c, ok := t.(targets.Creator); ok {
		err = c.PutIfAbsent(ctx, "config", sealed)
	} else {
		err = t.Put(ctx, "config", sealed)
	}
	if errors.Is(err, targets.ErrAlreadyExists) {
		return nil, fmt.Errorf("%w at %s", ErrRepositoryExists, t.Location())
	}
	if err != nil {
		return nil, fmt.Errorf("save config: %w", err)
	}
	return r, nil
}

// Open opens an existing repository with password. It does not load the
// index; call LoadIndex before reading or writing blobs.
func Open(ctx context.Context, t targets.Target, password []byte, opts Options) (*Repository, error) {
	sealed, err := targets.ReadAll(ctx, t, "config")
	if errors.Is(err, targets.ErrNotFound) {
		return nil, fmt.Errorf("%w at %s", ErrNotRepository, t.Location())
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", t.Location(), err)
	}
	master, keyID, err := openMaster(ctx, t, password)
	if err != nil {
		return nil, err
	}
	cb, err := master.Open(nil, sealed, KindConfig.ad())
	if err != nil {
		return nil, fmt.Errorf("%w: config: %v", ErrDamaged, err)
	}
	var cfg Config
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return nil, fmt.Errorf("%w: config: %v", ErrDamaged, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newRepository(t, master, cfg, opts)
	if err != nil {
		return nil, err
	}
	r.keyID = keyID
	return r, nil
}

func newRepository(t targets.Target, key *crypto.Key, cfg Config, opts Options) (r *Repository, err error) {
	// One encoder per level in use: index files at the default level,
	// blobs at the levels of opts.Compression (nil where stored as read).
	encoders := map[zstd.EncoderLevel]*zstd.Encoder{}
	defer func() {
		if err != nil {
			for _, e := range encoders {
				e.Close()
			}
		}
	}()
	encoder := func(level zstd.EncoderLevel, use bool) *zstd.Encoder {
		if !use || err != nil {
			return nil
		}
		if encoders[level] == nil {
			var e *zstd.Encoder
			if e, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(false),
				zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithLowerEncoderMem(true)); err != nil {
				return nil
			}
			encoders[level] = e
		}
		return encoders[level]
	}
	meta := encoder(zstd.SpeedDefault, true)
	treeEnc := encoder(opts.Compression.treeLevel())
	dataEnc := encoder(opts.Compression.dataLevel())
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return nil, err
	}
	return &Repository{target: t, key: key, cfg: cfg, opts: opts, idx: index.New(), meta: meta, treeEnc: treeEnc, dataEnc: dataEnc, encoders: encoders, dec: dec,
		trees: newTreePackCache(treeCacheBytes), cache: newCache(opts.CacheDir, cfg.ID)}, nil
}

// Close releases resources. It does not close the target.
func (r *Repository) Close() error {
	r.dec.Close()
	var err error
	for _, e := range r.encoders {
		if cerr := e.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Config returns the repository configuration.
func (r *Repository) Config() Config { return r.cfg }

// Target returns the underlying store.
func (r *Repository) Target() targets.Target { return r.target }

// Index returns the in-memory index.
func (r *Repository) Index() *index.Index { return r.idx }

// Key returns the master key (for chunk ids).
func (r *Repository) Key() *crypto.Key { return r.key }

// Now is the repository's clock.
func (r *Repository) Now() time.Time { return r.opts.now() }
