package repository

import (
	"context"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/internal/workers"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// LoadIndex reads every index file into memory, several at a time. A
// damaged index file is an error: it names the file. Unless the handle was
// opened with NoLock, a lock must be held (ErrNotLocked otherwise).
func (r *Repository) LoadIndex(ctx context.Context) error {
	if !r.opts.NoLock && !r.Locked() {
		return ErrNotLocked
	}
	ids, err := r.listIDs(ctx, kindIndex)
	if err != nil {
		return err
	}
	files := make([]*index.File, len(ids))
	err = workers.ForEach(ctx, len(ids), 8, func(ctx context.Context, i int) error {
		f, err := r.LoadIndexFile(ctx, ids[i])
		files[i] = f
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		r.idx.AddFile(f)
	}
	r.mu.Lock()
	r.indexFiles = append(r.indexFiles, ids...)
	r.mu.Unlock()
	return nil
}

// LoadIndexFile reads, authenticates and decodes one index file.
func (r *Repository) LoadIndexFile(ctx context.Context, id pack.ID) (*index.File, error) {
	name := kindIndex + "/" + id.String()
	sealed, err := r.loadSealed(ctx, kindIndex, name, &id)
	if err != nil {
		return nil, err
	}
	plain, err := r.dec.DecodeAll(sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
	}
	f, err := index.Decode(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
	}
	return f, nil
}

// IndexFiles lists the index files known to this handle.
func (r *Repository) IndexFiles(ctx context.Context) ([]pack.ID, error) {
	return r.listIDs(ctx, kindIndex)
}

// SaveIndexFile compresses, seals and stores an index file.
func (r *Repository) SaveIndexFile(ctx context.Context, f *index.File) (pack.ID, error) {
	id, err := r.saveSealed(ctx, kindIndex, r.enc.EncodeAll(f.Encode(), nil))
	if err != nil {
		return id, err
	}
	r.mu.Lock()
	r.indexFiles = append(r.indexFiles, id)
	r.mu.Unlock()
	return id, nil
}
