// Package repair mends a damaged repository: it rebuilds the index from the
// pack headers (Index), and rewrites snapshots whose trees or chunks are
// lost so that the rest of them restores (Snapshots).
package repair

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// IndexOptions tune Index.
type IndexOptions struct {
	// ReadAllPacks reads every pack's header, not only those of packs that
	// no readable index file names.
	ReadAllPacks bool
	DryRun       bool
}

// IndexReport says what Index did (or would do, with DryRun).
type IndexReport struct {
	Packs             int `json:"packs"`               // stored packs
	HeadersRead       int `json:"headers_read"`        // pack headers read
	Reindexed         int `json:"reindexed"`           // packs no readable index named, now indexed
	Unidentified      int `json:"unidentified"`        // stored packs whose header cannot be read (left alone)
	MissingPacks      int `json:"missing_packs"`       // indexed but not stored (dropped from the index)
	DamagedIndexFiles int `json:"damaged_index_files"` // left out and replaced
	IndexFilesWritten int `json:"index_files_written"`
	IndexFilesRemoved int `json:"index_files_removed"`
}

// Index rebuilds the index under the repository's exclusive lock. Every
// stored pack whose header can be read is named by one new index file,
// which supersedes every old one; then the old ones are deleted. A crash
// before the new file is written changes nothing; after, the old files are
// superseded, and the next run (or a prune) deletes them. Packs are never
// touched. Only the key holder can read pack headers.
func Index(ctx context.Context, repo *repository.Repository, opts IndexOptions) (_ *IndexReport, err error) {
	lock, err := repo.Lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer lock.UnlockInto(ctx, &err)

	st, err := repo.ReadIndexState(ctx)
	if err != nil {
		return nil, err
	}
	oldIndex, known, stored := st.Files, st.Packs, st.Stored
	rep := &IndexReport{Packs: len(stored), DamagedIndexFiles: st.Damaged, MissingPacks: st.Missing}

	f := &index.File{Supersedes: oldIndex}
	for _, p := range sortedIDs(stored) {
		entries, indexed := known[p]
		if !indexed || opts.ReadAllPacks {
			rep.HeadersRead++
			h, err := repo.PackHeader(ctx, p, stored[p])
			switch {
			case errors.Is(err, repository.ErrDamaged):
				rep.Unidentified++
				continue
			case err != nil:
				return nil, err
			}
			if !indexed {
				rep.Reindexed++
			}
			entries = h
		}
		f.Packs = append(f.Packs, index.PackBlobs{Pack: p, Entries: entries})
	}
	if opts.DryRun || (rep.Reindexed == 0 && rep.MissingPacks == 0 && rep.DamagedIndexFiles == 0 && !opts.ReadAllPacks) {
		return rep, nil
	}
	if _, err := repo.SaveIndexFile(ctx, f); err != nil {
		return nil, err
	}
	rep.IndexFilesWritten = 1
	for _, id := range oldIndex {
		if err := repo.DeleteIndexFile(ctx, id); err != nil {
			return rep, err
		}
		rep.IndexFilesRemoved++
	}
	return rep, nil
}

func sortedIDs[V any](m map[pack.ID]V) []pack.ID {
	ids := make([]pack.ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b pack.ID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}
