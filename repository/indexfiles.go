package repository

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/internal/workers"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// LoadIndex reads every index file into memory, several at a time. A
// damaged index file is left out and reported to Options.OnDamaged: its
// blobs are then unknown, so a backup stores them again and a restore that
// needs them fails for the files concerned only (repair index rebuilds it).
// An index file removed between the listing and the read (by a prune that
// superseded it, seen only by a handle without a lock) is not an error: the
// listing is taken again for the files that replaced it. Unless the handle
// was opened with NoLock, a lock must be held (ErrNotLocked otherwise).
// Index files this handle has loaded are not read again: a second call
// adds those written since the first. The marks are read too, for Lookup.
func (r *Repository) LoadIndex(ctx context.Context) error {
	if !r.opts.NoLock && !r.Locked() {
		return ErrNotLocked
	}
	loaded := map[pack.ID]bool{}
	r.mu.Lock()
	for _, id := range r.indexFiles {
		loaded[id] = true
	}
	r.mu.Unlock()
	for pass := 0; ; pass++ {
		ids, err := r.listIDs(ctx, KindIndex)
		if err != nil {
			return err
		}
		ids = slices.DeleteFunc(ids, func(id pack.ID) bool { return loaded[id] })
		// Files are decoded several at a time but added in the order of
		// the listing, each as soon as those before it are in: a decoded
		// file is garbage once added, so only the few in flight are held.
		files := make([]*index.File, len(ids))
		var mu sync.Mutex
		next := 0
		var vanished atomic.Bool
		err = workers.ForEach(ctx, len(ids), 8, func(ctx context.Context, i int) error {
			f, err := r.LoadIndexFile(ctx, ids[i])
			switch {
			case errors.Is(err, targets.ErrNotFound):
				vanished.Store(true)
				f, err = skippedFile, nil
			case errors.Is(err, ErrDamaged):
				r.opts.damaged(KindIndex.Name(ids[i]), err)
				f, err = skippedFile, nil
			case err != nil:
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			files[i] = f
			for ; next < len(ids) && files[next] != nil; next++ {
				if files[next] != skippedFile {
					r.idx.AddFile(files[next])
					loaded[ids[next]] = true
					r.mu.Lock()
					r.indexFiles = append(r.indexFiles, ids[next])
					r.mu.Unlock()
				}
				files[next] = skippedFile // done: let it go
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !vanished.Load() || pass == 2 {
			if _, err := r.LoadMarked(ctx); err != nil {
				return err
			}
			r.cache.keepTreePacks(r.packKnown)
			return nil
		}
	}
}

// skippedFile fills the slot of an index file that vanished, is damaged
// or was added already: the slot must not be nil for the files after it
// to follow.
var skippedFile = &index.File{}

// LoadIndexFile reads, authenticates and decodes one index file.
func (r *Repository) LoadIndexFile(ctx context.Context, id pack.ID) (*index.File, error) {
	name := KindIndex.Name(id)
	sealed, err := r.loadSealed(ctx, KindIndex, name, &id)
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
	return r.listIDs(ctx, KindIndex)
}

// SaveIndexFile compresses, seals and stores an index file.
func (r *Repository) SaveIndexFile(ctx context.Context, f *index.File) (pack.ID, error) {
	id, err := r.saveSealed(ctx, KindIndex, r.meta.EncodeAll(f.Encode(), nil))
	if err != nil {
		return id, err
	}
	r.mu.Lock()
	r.indexFiles = append(r.indexFiles, id)
	r.mu.Unlock()
	return id, nil
}

// DeleteIndexFile removes an index file (prune and repair, once a newer
// file supersedes it).
func (r *Repository) DeleteIndexFile(ctx context.Context, id pack.ID) error {
	if err := r.target.Delete(ctx, KindIndex.Name(id)); err != nil {
		return fmt.Errorf("delete index: %w", err)
	}
	return nil
}

// IndexState is every index file as stored beside the stored packs: what a
// rewrite of the index (prune, repair index) starts from.
type IndexState struct {
	Files   []pack.ID                // every index file, damaged ones included: a new file supersedes them all
	Damaged int                      // index files left out because they are damaged
	Packs   map[pack.ID][]pack.Entry // each indexed pack's entries, from the first file that names it
	Stored  map[pack.ID]int64        // the packs in the store, with their sizes
	Missing int                      // indexed packs that are not stored
}

// ReadIndexState reads every index file (adding each to the in-memory index
// too) and lists the stored packs. A damaged index file is counted and left
// out; its packs then show as stored but not indexed, for the caller to
// read their headers. Any other failure is an error: a rewrite of the index
// must not start from a partial view.
func (r *Repository) ReadIndexState(ctx context.Context) (*IndexState, error) {
	files, err := r.IndexFiles(ctx)
	if err != nil {
		return nil, err
	}
	st := &IndexState{Files: files, Packs: map[pack.ID][]pack.Entry{}}
	for _, id := range files {
		f, err := r.LoadIndexFile(ctx, id)
		if errors.Is(err, ErrDamaged) {
			st.Damaged++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("every index file is needed: %w", err)
		}
		r.idx.AddFile(f)
		for _, p := range f.Packs {
			if _, ok := st.Packs[p.Pack]; !ok {
				st.Packs[p.Pack] = p.Entries
			}
		}
	}
	if st.Stored, err = r.StoredPacks(ctx); err != nil {
		return nil, err
	}
	for p := range st.Packs {
		if _, ok := st.Stored[p]; !ok {
			st.Missing++
		}
	}
	return st, nil
}
