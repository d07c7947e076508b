package repair

import (
	"context"
	"errors"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// PacksOptions tune Packs.
type PacksOptions struct {
	// Packs limits the packs read to these (as check --read-data names
	// them); empty reads every indexed pack.
	Packs  []pack.ID
	DryRun bool
	// Progress, if set, is told after each pack read.
	Progress func(read, total int)
}

// DamagedPack is one pack that Packs took out of the index.
type DamagedPack struct {
	Pack pack.ID `json:"pack"`
	// Missing: the store does not have it.
	Missing bool `json:"missing,omitempty"`
	// Salvaged blobs were intact and are stored again in new packs; Lost
	// ones failed authentication (or the pack is missing) and leave the
	// index.
	Salvaged int `json:"salvaged"`
	Lost     int `json:"lost"`
}

// PacksReport says what Packs did (or would do, with DryRun).
type PacksReport struct {
	PacksRead int           `json:"packs_read"`
	Damaged   []DamagedPack `json:"damaged,omitempty"`
	// LostBlobs are the ids of the blobs that left the index.
	LostBlobs []pack.ID `json:"lost_blobs,omitempty"`
	SetAside  int       `json:"set_aside"` // damaged packs kept under damaged/
}

// Packs takes damaged packs out of the index under the repository's
// exclusive lock. It reads the packs, and for each one that is missing,
// does not match its name, or holds a blob that fails authentication, it
// stores every intact blob of it again in new packs, keeps the damaged
// pack's bytes as damaged/<id> (never deleted by lifeboat: a later tool may
// recover more from it), writes one index file that names every other
// pack and supersedes the old files, then deletes the old index files and
// the pack from data/.
//
// After it, the damaged blobs are absent: a backup of a source that still
// has their data stores them again, and Snapshots rewrites the snapshots
// that need them. A crash before the new index file changes nothing that
// matters (new packs are named by their own index file; the pack set
// aside is a copy); after it, the next run or a prune finishes.
func Packs(ctx context.Context, repo *repository.Repository, opts PacksOptions) (_ *PacksReport, err error) {
	lock, err := repo.Lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer lock.UnlockInto(ctx, &err)
	if err := repo.LoadIndex(ctx); err != nil {
		return nil, err
	}
	byPack := map[pack.ID][]pack.Entry{}
	repo.Index().Each(func(_ pack.BlobType, _ pack.ID, l index.Location) {
		byPack[l.Pack] = append(byPack[l.Pack], l.Entry)
	})
	todo := opts.Packs
	if len(todo) == 0 {
		todo = sortedIDs(byPack)
	}
	rep := &PacksReport{}
	var stored []pack.ID // the damaged packs that exist (set aside unless DryRun)
	var w *repository.Writer
	if !opts.DryRun {
		w = repo.NewWriter(ctx)
		defer func() {
			if w != nil {
				w.Abort()
			}
		}()
	}
	for i, id := range todo {
		entries, ok := byPack[id]
		if !ok {
			return nil, fmt.Errorf("pack %s: no index names it (lifeboat repair index indexes packs that are stored)", id.Short())
		}
		d, data, lost, err := readPack(ctx, repo, id, entries, w)
		if err != nil {
			return nil, err
		}
		rep.PacksRead++
		if opts.Progress != nil {
			opts.Progress(i+1, len(todo))
		}
		if d == nil {
			continue
		}
		rep.Damaged = append(rep.Damaged, *d)
		if data != nil && !opts.DryRun {
			if err := repo.SetPackAside(ctx, id, data); err != nil {
				return rep, err
			}
			rep.SetAside++
		}
		if data != nil {
			stored = append(stored, id)
		}
		rep.LostBlobs = append(rep.LostBlobs, lost...)
	}
	if opts.DryRun || len(rep.Damaged) == 0 {
		return rep, nil
	}
	if _, err := w.Finish(); err != nil {
		return rep, err
	}
	w = nil
	if err := repo.CheckLocks(ctx); err != nil {
		return rep, err
	}
	st, err := repo.ReadIndexState(ctx)
	if err != nil {
		return rep, err
	}
	out := map[pack.ID]bool{}
	for _, d := range rep.Damaged {
		out[d.Pack] = true
	}
	f := &index.File{Supersedes: st.Files}
	for _, p := range sortedIDs(st.Packs) {
		if !out[p] {
			f.Packs = append(f.Packs, index.PackBlobs{Pack: p, Entries: st.Packs[p]})
		}
	}
	if _, err := repo.SaveIndexFile(ctx, f); err != nil {
		return rep, err
	}
	for _, id := range st.Files {
		if err := repo.DeleteIndexFile(ctx, id); err != nil {
			return rep, err
		}
	}
	for _, id := range stored {
		if err := repo.DeletePack(ctx, id); err != nil {
			return rep, err
		}
	}
	return rep, repo.LoadIndex(ctx)
}

// readPack reads one pack and, if it is damaged, copies its intact blobs
// through w (unless w is nil, a dry run). It returns nil for a pack that
// is whole; for a damaged one its bytes (unless it is missing) and the ids
// of its blobs that are lost.
func readPack(ctx context.Context, repo *repository.Repository, id pack.ID, entries []pack.Entry, w *repository.Writer) (*DamagedPack, []byte, []pack.ID, error) {
	data, err := targets.ReadStored(ctx, repo.Target(), repository.PackName(id))
	if errors.Is(err, targets.ErrNotFound) {
		lost := make([]pack.ID, len(entries))
		for i, e := range entries {
			lost[i] = e.ID
		}
		return &DamagedPack{Pack: id, Missing: true, Lost: len(entries)}, nil, lost, nil
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pack %s: %w", id.Short(), err)
	}
	d := &DamagedPack{Pack: id}
	var plains [][]byte
	var good []pack.Entry
	var lost []pack.ID
	for _, e := range entries {
		plain, ok := open(repo, e, data)
		if !ok {
			lost = append(lost, e.ID)
			continue
		}
		plains, good = append(plains, plain), append(good, e)
	}
	if len(lost) == 0 && pack.Hash(data) == id {
		return nil, nil, nil, nil
	}
	d.Salvaged, d.Lost = len(good), len(lost)
	if w != nil {
		for i, e := range good {
			if err := w.CopyBlob(e.Type, e.ID, plains[i]); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return d, data, lost, nil
}

// open returns the plaintext of one entry of a pack's bytes, or false if
// it is out of the pack's bounds or fails authentication.
func open(repo *repository.Repository, e pack.Entry, data []byte) ([]byte, bool) {
	end := int64(e.Offset) + int64(e.Length)
	if end > int64(len(data)) {
		return nil, false
	}
	sealed := append([]byte(nil), data[e.Offset:end]...)
	plain, err := repo.OpenBlob(e, sealed, nil)
	return plain, err == nil
}
