// Package prune deletes what no snapshot needs: packs whose blobs are all
// unused, and packs that are mostly unused after their used blobs are
// copied into new packs. It holds the repository's exclusive lock, so it
// never runs beside a backup that may rely on blobs it would delete.
//
// Order of writes, so that a crash at any point leaves a valid repository
// that the next prune finishes cleaning: (1) used blobs of packs to repack
// are copied into new packs with their own index files; (2) one index file
// naming every kept pack, and superseding all older index files, is
// written; (3) the older index files are deleted; (4) the unneeded packs
// are deleted.
package prune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// Options tune a prune.
type Options struct {
	// RepackUnused is the share of a pack's bytes that must be unused for
	// the pack to be rewritten: more than 0, at most 1 (0: the default,
	// DefaultRepackUnused). Any other value is refused.
	RepackUnused float64
	DryRun       bool
}

// DefaultRepackUnused is the default of Options.RepackUnused.
const DefaultRepackUnused = 0.5

// Report says what a prune did (or would do, with DryRun).
type Report struct {
	Packs         int `json:"packs"`
	PacksDeleted  int `json:"packs_deleted"`  // wholly unused or unreferenced
	PacksRepacked int `json:"packs_repacked"` // mostly unused, used blobs copied
	Unreferenced  int `json:"unreferenced"`   // named by no index, holding nothing needed (left by killed runs)
	// Reindexed counts packs that no index named but that hold blobs a
	// snapshot needs (their index file was lost or damaged): they are kept
	// and named by the new index.
	Reindexed int `json:"reindexed"`
	// Unidentified counts packs that no index names and whose header
	// cannot be read: they are kept, never deleted (check reports them).
	Unidentified int `json:"unidentified"`
	// DamagedIndexFiles are left out and replaced by the new index.
	DamagedIndexFiles int `json:"damaged_index_files"`
	// MissingPacks are named by an index but not stored: the new index
	// leaves them out (prune stops if a snapshot needs one).
	MissingPacks int   `json:"missing_packs"`
	BlobsUsed    int   `json:"blobs_used"`
	BlobsRemoved int   `json:"blobs_removed"`
	BytesFreed   int64 `json:"bytes_freed"`
	IndexFiles   int   `json:"index_files_replaced"`
	// TempFiles counts temporary files that killed runs left in a
	// local repository (removed with BytesFreed counting them).
	TempFiles int `json:"temp_files_removed"`
}

// staleTempAge is how old a temporary pack file must be to be removed. The
// exclusive lock already means that no backup is writing one; the age is a
// margin for a backup that still runs although its lock went stale.
const staleTempAge = time.Hour

type blobKey struct {
	t  pack.BlobType
	id pack.ID
}

// Run prunes the repository. The repository's index need not be loaded.
func Run(ctx context.Context, repo *repository.Repository, opts Options) (_ *Report, err error) {
	switch {
	case opts.RepackUnused == 0:
		opts.RepackUnused = DefaultRepackUnused
	case opts.RepackUnused < 0 || opts.RepackUnused > 1 || math.IsNaN(opts.RepackUnused):
		return nil, fmt.Errorf("repack-unused must be more than 0 and at most 1 (a share: 0.5 is half), not %v", opts.RepackUnused)
	}
	lock, err := repo.Lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer lock.UnlockInto(ctx, &err)

	// Every index file, as stored: a blob may sit in several packs. The
	// packs of a damaged index file look unreferenced below, where their
	// headers are read: what they hold is found and indexed again. Packs
	// indexed but missing are dropped from the new index.
	st, err := repo.ReadIndexState(ctx)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	oldIndex, packEntries, stored := st.Files, st.Packs, st.Stored
	rep := &Report{Packs: len(stored), DamagedIndexFiles: st.Damaged, MissingPacks: st.Missing}
	// The headers of packs that no index names are read before the trees
	// are walked: a tree may sit in one of them (its index file was lost
	// or damaged).
	unindexed := map[pack.ID][]pack.Entry{}
	for p, size := range stored {
		if _, indexed := packEntries[p]; indexed {
			continue
		}
		entries, err := repo.PackHeader(ctx, p, size)
		switch {
		case errors.Is(err, repository.ErrDamaged):
			rep.Unidentified++ // kept: what it holds is unknown
			continue
		case err != nil:
			return nil, fmt.Errorf("read the header of unreferenced pack %s: %w", p.Short(), err)
		}
		unindexed[p] = entries
		repo.Index().AddPack(p, entries)
	}
	used, err := usedBlobs(ctx, repo)
	if err != nil {
		return nil, err
	}
	rep.BlobsUsed = len(used)
	// A pack that no index names is deleted only when its header shows
	// that it holds nothing a snapshot needs: a lost or damaged index file
	// must not turn the only copy of needed data into garbage.
	var orphans []pack.ID
	for p, entries := range unindexed {
		if slices.ContainsFunc(entries, func(e pack.Entry) bool { _, ok := used[blobKey{e.Type, e.ID}]; return ok }) {
			packEntries[p] = entries
			rep.Reindexed++
		} else {
			orphans = append(orphans, p)
		}
	}
	// Each used blob is kept in one pack: the first in a stable order.
	packs := make([]pack.ID, 0, len(packEntries))
	for id := range packEntries {
		packs = append(packs, id)
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].String() < packs[j].String() })
	home := map[blobKey]pack.ID{}
	for _, p := range packs {
		if _, ok := stored[p]; !ok {
			continue // indexed but missing: check reports it; nothing to keep here
		}
		for _, e := range packEntries[p] {
			k := blobKey{e.Type, e.ID}
			if _, ok := used[k]; ok {
				if _, taken := home[k]; !taken {
					home[k] = p
				}
			}
		}
	}
	for k := range used {
		if _, ok := home[k]; !ok {
			return nil, fmt.Errorf("%s blob %s is needed but in no stored pack: run check before pruning", k.t, k.id.Short())
		}
	}

	var deleteList, repack []pack.ID
	keep := map[pack.ID]bool{}
	for _, p := range packs {
		size, ok := stored[p]
		if !ok {
			continue
		}
		var usedBytes, allBytes int64
		for _, e := range packEntries[p] {
			allBytes += int64(e.Length)
			if home[blobKey{e.Type, e.ID}] == p {
				usedBytes += int64(e.Length)
			} else {
				rep.BlobsRemoved++
			}
		}
		switch {
		case usedBytes == 0:
			deleteList = append(deleteList, p)
			rep.BytesFreed += size
		case allBytes > 0 && float64(allBytes-usedBytes)/float64(allBytes) >= opts.RepackUnused:
			repack = append(repack, p)
			rep.BytesFreed += allBytes - usedBytes
		default:
			keep[p] = true
		}
	}
	for _, p := range orphans {
		deleteList = append(deleteList, p)
		rep.Unreferenced++
		rep.BytesFreed += stored[p]
	}
	rep.PacksDeleted, rep.PacksRepacked = len(deleteList), len(repack)
	if err := sweepTemps(ctx, repo, opts.DryRun, rep); err != nil {
		return nil, err
	}
	if len(deleteList) == 0 && len(repack) == 0 && rep.Reindexed == 0 && rep.DamagedIndexFiles == 0 && rep.MissingPacks == 0 {
		return rep, nil // nothing to rewrite
	}
	rep.IndexFiles = len(oldIndex)
	if opts.DryRun {
		return rep, nil
	}

	// (1) Copy the used blobs out of the packs to repack; the new packs get
	// index files of their own.
	if len(repack) > 0 {
		w := repo.NewWriter(ctx)
		for _, p := range repack {
			if err := copyUsed(ctx, repo, w, p, packEntries[p], home); err != nil {
				w.Abort()
				return nil, err
			}
		}
		if _, err := w.Finish(); err != nil {
			return nil, err
		}
	}
	// (2) One index for every kept pack, superseding the old index files.
	f := &index.File{Supersedes: oldIndex}
	for _, p := range packs {
		if keep[p] {
			f.Packs = append(f.Packs, index.PackBlobs{Pack: p, Entries: packEntries[p]})
		}
	}
	if _, err := repo.SaveIndexFile(ctx, f); err != nil {
		return nil, err
	}
	// Deleting relies on the exclusive lock: a lost one lets backups run.
	if err := repo.CheckLocks(ctx); err != nil {
		return nil, err
	}
	// (3) The old index files, then (4) the packs.
	for _, id := range oldIndex {
		if err := repo.DeleteIndexFile(ctx, id); err != nil {
			return nil, err
		}
	}
	for _, p := range append(deleteList, repack...) {
		if err := repo.Target().Delete(ctx, repository.PackName(p)); err != nil {
			return nil, fmt.Errorf("delete pack: %w", err)
		}
	}
	return rep, nil
}

// sweepTemps removes (or, with dryRun, counts) the temporary files older
// than staleTempAge that killed runs left in the target (a local one keeps
// them beside the objects: packs, index files, keys, snapshots).
func sweepTemps(ctx context.Context, repo *repository.Repository, dryRun bool, rep *Report) error {
	ts, ok := repo.Target().(targets.TempSweeper)
	if !ok {
		return nil
	}
	n, size, err := ts.SweepTemps(ctx, repo.Now().Add(-staleTempAge), dryRun)
	rep.TempFiles += n
	rep.BytesFreed += size
	return err
}

// usedBlobs walks every snapshot's trees and collects the blobs they need.
// A tree that cannot be read stops the prune: deleting then could lose data.
func usedBlobs(ctx context.Context, repo *repository.Repository) (map[blobKey]struct{}, error) {
	ids, err := repo.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	snaps, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("prune needs every snapshot: %w", err)
	}
	// The exclusive lock keeps forget away, so every listed snapshot must
	// have loaded: one that did not is damaged, and what it needs is unknown.
	if len(snaps) != len(ids) {
		return nil, fmt.Errorf("prune needs every snapshot: %d of %d could not be read (%w; forget the damaged ones, or run check)",
			len(ids)-len(snaps), len(ids), repository.ErrDamaged)
	}
	roots := make([]pack.ID, len(snaps))
	for i, s := range snaps {
		roots[i] = s.Tree
	}
	used := map[blobKey]struct{}{}
	err = repo.EachTree(ctx, roots, func(id pack.ID, t *repository.Tree, err error) error {
		if err != nil {
			return fmt.Errorf("prune needs every tree (lifeboat repair snapshots saves what is left of a damaged snapshot): %w", err)
		}
		used[blobKey{pack.TreeBlob, id}] = struct{}{}
		for _, n := range t.Nodes {
			for _, b := range n.Content {
				used[blobKey{pack.DataBlob, b}] = struct{}{}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return used, nil
}

// copyUsed reads a pack and copies the blobs whose home it is.
func copyUsed(ctx context.Context, repo *repository.Repository, w *repository.Writer, p pack.ID, entries []pack.Entry, home map[blobKey]pack.ID) error {
	data, err := targets.ReadAll(ctx, repo.Target(), repository.PackName(p))
	if err != nil {
		return fmt.Errorf("repack %s: %w", p.Short(), err)
	}
	for _, e := range entries {
		if home[blobKey{e.Type, e.ID}] != p {
			continue
		}
		end := int64(e.Offset) + int64(e.Length)
		if end > int64(len(data)) {
			return fmt.Errorf("repack %s: %w: blob past the end", p.Short(), repository.ErrDamaged)
		}
		plain, err := repo.OpenBlob(e, append([]byte(nil), data[e.Offset:end]...), nil)
		if err != nil {
			return fmt.Errorf("repack %s: %w", p.Short(), err)
		}
		if err := w.CopyBlob(e.Type, e.ID, plain); err != nil {
			return err
		}
	}
	return nil
}
