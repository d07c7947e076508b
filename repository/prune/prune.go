// Package prune deletes what no snapshot needs: packs whose blobs are all
// unused, and packs that are mostly unused once their used blobs are copied
// into new packs. It runs beside any number of backups, restores and
// checks: deletion has two phases (docs/design.md, "Prune beside running
// backups").
//
// A run (1) copies the used blobs of packs to repack into new packs with
// their own index files; (2) writes a mark listing the packs no longer
// needed, with their blobs; (3) writes one index file naming every kept
// pack, superseding the older index files, and (4) deletes those; (5)
// lists the locks and completes the mark with that list. A later run (6)
// deletes a marked pack once the mark is complete, older than a grace
// period, and every lock it lists is gone: such a holder had published its
// snapshot before that later run listed the snapshots, so the pack is
// deleted only if no listed snapshot needs it; a pack that one needs is
// named by the new index again instead. A crash at any step leaves a valid
// repository that the next run finishes cleaning. With Exclusive the run
// holds the exclusive lock, so nothing else runs and it deletes at once.
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
	// Exclusive takes the exclusive lock instead of the prune lock: no
	// backup may start meanwhile, and every pack found unneeded, now or by
	// an earlier run, is deleted at once.
	Exclusive bool
	// Grace is how long a mark must have been complete before its packs
	// may be deleted, at least MinGrace (0: DefaultGrace). It is a margin
	// for runs that hold no lock (--no-lock reads); locks are waited for
	// whatever it is.
	Grace time.Duration
}

// Defaults and limits of Options.
const (
	DefaultRepackUnused = 0.5
	DefaultGrace        = time.Hour
	MinGrace            = time.Second
	// lockSkew widens staleness for the sweep: a listed lock counts as
	// gone when its file is gone, its holder's PID is gone on this host,
	// or it was not refreshed for LockStaleAfter plus this (a holder whose
	// clock runs behind ours must not be taken for dead while it runs).
	lockSkew = time.Hour
)

// Report says what a prune did (or would do, with DryRun).
type Report struct {
	Packs int `json:"packs"`
	// PacksMarked counts the packs this run found unneeded and marked for
	// deletion (unused, repacked, unreferenced): a later run deletes them.
	PacksMarked   int   `json:"packs_marked"`
	BytesMarked   int64 `json:"bytes_marked"`
	PacksRepacked int   `json:"packs_repacked"` // mostly unused, used blobs copied
	Unreferenced  int   `json:"unreferenced"`   // named by no index, holding nothing needed
	// PacksDeleted counts the marked packs this run deleted, BytesFreed
	// their size (with temporary files).
	PacksDeleted int   `json:"packs_deleted"`
	BytesFreed   int64 `json:"bytes_freed"`
	// MarksSwept are the marks this run finished; MarksWaiting the ones
	// not yet due, and WaitingFor why (the earliest reason).
	MarksSwept   int    `json:"marks_swept"`
	MarksWaiting int    `json:"marks_waiting"`
	WaitingFor   string `json:"waiting_for,omitempty"`
	// Reindexed counts packs that no index named but that hold blobs a
	// snapshot needs and no indexed pack holds (their index file was lost,
	// or a backup beside a prune used a blob of a marked pack): they are
	// kept and named by the new index. TakenBack counts the marked ones.
	Reindexed int `json:"reindexed"`
	TakenBack int `json:"taken_back"`
	// Unidentified counts packs that no index names and whose header
	// cannot be read: they are kept, never deleted (check reports them).
	Unidentified int `json:"unidentified"`
	// DamagedIndexFiles are left out and replaced by the new index.
	DamagedIndexFiles int `json:"damaged_index_files"`
	// MissingPacks are named by an index but not stored: the new index
	// leaves them out (prune stops if a snapshot needs one).
	MissingPacks int `json:"missing_packs"`
	BlobsUsed    int `json:"blobs_used"`
	BlobsRemoved int `json:"blobs_removed"`
	IndexFiles   int `json:"index_files_replaced"`
	// TempFiles counts temporary files that killed runs left in a
	// local repository (removed with BytesFreed counting them).
	TempFiles int `json:"temp_files_removed"`
}

// staleTempAge is how old a temporary pack file must be to be removed: a
// running backup writes one in seconds.
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
	switch {
	case opts.Grace == 0:
		opts.Grace = DefaultGrace
	case opts.Grace < MinGrace:
		return nil, fmt.Errorf("the grace period must be at least %s, not %s (--exclusive deletes at once, with every backup kept out)", MinGrace, opts.Grace)
	}
	var lock *repository.Lock
	if opts.Exclusive {
		lock, err = repo.Lock(ctx, true)
	} else {
		lock, err = repo.LockPrune(ctx)
	}
	if err != nil {
		return nil, err
	}
	defer lock.UnlockInto(ctx, &err)

	rep := &Report{}
	// Which marks are due is decided before the snapshots are listed: the
	// holder of a lock that is gone now published its snapshot before the
	// listing, so the walk below sees what it needs.
	marks, err := repo.Marks(ctx)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	due, err := dueMarks(ctx, repo, marks, opts, rep)
	if err != nil {
		return nil, err
	}
	// The snapshots are listed before the index is read: a backup writes
	// its index files before its snapshot, so each listed snapshot's packs
	// are indexed (or at least stored) by then.
	snapIDs, err := repo.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	// Every index file, as stored: a blob may sit in several packs. The
	// packs of a damaged index file look unreferenced below, where their
	// headers are read: what they hold is found and indexed again. Packs
	// indexed but missing are dropped from the new index.
	st, err := repo.ReadIndexState(ctx)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	oldIndex, packEntries, stored := st.Files, st.Packs, st.Stored
	rep.Packs, rep.DamagedIndexFiles, rep.MissingPacks = len(stored), st.Damaged, st.Missing
	markedBy := map[pack.ID][]*repository.Mark{}
	markedEntries := map[pack.ID][]pack.Entry{}
	for _, m := range marks {
		for _, p := range m.Packs {
			markedBy[p.Pack] = append(markedBy[p.Pack], m)
			markedEntries[p.Pack] = p.Entries
		}
	}
	// What the packs that no index names hold (from their mark, or their
	// header) is known before the trees are walked: a tree may sit in one
	// of them (its index file was lost, or a backup used a marked pack).
	unindexed := map[pack.ID][]pack.Entry{}
	for p, size := range stored {
		if _, indexed := packEntries[p]; indexed {
			continue
		}
		entries, marked := markedEntries[p]
		if !marked {
			entries, err = repo.PackHeader(ctx, p, size)
			switch {
			case errors.Is(err, repository.ErrDamaged):
				rep.Unidentified++ // kept: what it holds is unknown
				continue
			case errors.Is(err, targets.ErrNotFound):
				continue // a temporary upload of a killed run, gone since the listing
			case err != nil:
				return nil, fmt.Errorf("read the header of unreferenced pack %s: %w", p.Short(), err)
			}
		}
		unindexed[p] = entries
		repo.Index().AddPack(p, entries)
	}
	used, err := usedBlobs(ctx, repo, snapIDs)
	if err != nil {
		return nil, err
	}
	rep.BlobsUsed = len(used)

	// Each used blob is kept in one pack: the first indexed one in a
	// stable order, else the first pack that no index names.
	home := map[blobKey]pack.ID{}
	packs := sortedPacks(packEntries)
	for _, p := range packs {
		if _, ok := stored[p]; !ok {
			continue // indexed but missing: check reports it; nothing to keep here
		}
		homeUsed(home, used, p, packEntries[p])
	}
	// A pack that no index names is deleted only when it holds nothing a
	// snapshot needs that no indexed pack holds: a lost index file, or a
	// backup beside the prune, must not turn needed data into garbage.
	var sweep, orphans []pack.ID
	for _, p := range sortedPacks(unindexed) {
		if homeUsed(home, used, p, unindexed[p]) {
			packEntries[p] = unindexed[p]
			packs = append(packs, p)
			rep.Reindexed++
			if len(markedBy[p]) > 0 {
				rep.TakenBack++
			}
			continue
		}
		switch ms := markedBy[p]; {
		case len(ms) == 0:
			orphans = append(orphans, p)
		case !slices.ContainsFunc(ms, func(m *repository.Mark) bool { return !due[m.ID] }):
			sweep = append(sweep, p) // every mark naming it is due
		}
	}
	for k := range used {
		if _, ok := home[k]; !ok {
			return nil, fmt.Errorf("%s blob %s is needed but in no stored pack: run check before pruning", k.t, k.id.Short())
		}
	}

	var drop, repack []pack.ID
	keep := map[pack.ID]bool{}
	for _, p := range packs {
		if _, ok := stored[p]; !ok {
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
			drop = append(drop, p)
		case allBytes > 0 && float64(allBytes-usedBytes)/float64(allBytes) >= opts.RepackUnused:
			repack = append(repack, p)
		default:
			keep[p] = true
		}
	}
	mark := &repository.Mark{Created: repo.Now()}
	for _, p := range slices.Concat(drop, repack, orphans) {
		entries := packEntries[p]
		if entries == nil {
			entries = unindexed[p]
		}
		mark.Packs = append(mark.Packs, index.PackBlobs{Pack: p, Entries: entries})
		rep.BytesMarked += stored[p]
	}
	rep.PacksMarked, rep.PacksRepacked, rep.Unreferenced = len(mark.Packs), len(repack), len(orphans)
	if opts.Exclusive { // nothing else runs: this run's packs go at once
		sweep = append(sweep, slices.Concat(drop, repack, orphans)...)
	}
	rep.PacksDeleted = len(sweep)
	for _, p := range sweep {
		rep.BytesFreed += stored[p]
	}
	rep.MarksSwept = len(due)
	if err := sweepTemps(ctx, repo, opts.DryRun, rep); err != nil {
		return nil, err
	}
	rewrite := len(drop) > 0 || len(repack) > 0 || rep.Reindexed > 0 || rep.DamagedIndexFiles > 0 || rep.MissingPacks > 0
	if rewrite {
		rep.IndexFiles = len(oldIndex)
	}
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
	// (2) The mark, before its packs leave the index: a crash after (4)
	// leaves it for the next run to complete.
	if len(mark.Packs) > 0 {
		if err := repo.SaveMark(ctx, mark); err != nil {
			return nil, err
		}
		marks = append(marks, mark)
	}
	// (3) One index for every kept pack, superseding the old index files.
	if rewrite {
		f := &index.File{Supersedes: oldIndex}
		for _, p := range packs {
			if keep[p] {
				f.Packs = append(f.Packs, index.PackBlobs{Pack: p, Entries: packEntries[p]})
			}
		}
		if _, err := repo.SaveIndexFile(ctx, f); err != nil {
			return nil, err
		}
		// Losing the lock would let another prune run beside this one.
		if err := repo.CheckLocks(ctx); err != nil {
			return nil, err
		}
		// (4) The old index files.
		for _, id := range oldIndex {
			if err := repo.DeleteIndexFile(ctx, id); err != nil {
				return nil, err
			}
		}
	}
	if opts.Exclusive {
		return rep, deleteAll(ctx, repo, sweep, marks)
	}
	// (5) Complete the marks (this run's, and any an earlier run left
	// incomplete): the locks listed now include every run that read an
	// index naming their packs.
	if err := complete(ctx, repo, marks); err != nil {
		return nil, err
	}
	// (6) Delete the packs of the marks that are due, then the marks.
	var swept []*repository.Mark
	for _, m := range marks {
		if due[m.ID] {
			swept = append(swept, m)
		}
	}
	return rep, deleteAll(ctx, repo, sweep, swept)
}

// dueMarks returns the ids of the marks whose packs may be deleted now,
// and counts the others in rep with the reason of the first. With
// Exclusive every mark is due: no other run holds a lock.
func dueMarks(ctx context.Context, repo *repository.Repository, marks []*repository.Mark, opts Options, rep *Report) (map[pack.ID]bool, error) {
	due := map[pack.ID]bool{}
	if opts.Exclusive {
		for _, m := range marks {
			due[m.ID] = true
		}
		return due, nil
	}
	locks, err := repo.Locks(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]repository.LockInfo{}
	for _, l := range locks {
		held[l.Name] = l
	}
	now := repo.Now()
	slices.SortFunc(marks, func(a, b *repository.Mark) int { return a.Created.Compare(b.Created) })
	for _, m := range marks {
		why := waitingFor(repo, m, held, now, opts.Grace)
		if why == "" {
			due[m.ID] = true
			continue
		}
		rep.MarksWaiting++
		if rep.WaitingFor == "" {
			rep.WaitingFor = why
		}
	}
	return due, nil
}

// waitingFor says why a mark's packs may not be deleted yet, or "".
func waitingFor(repo *repository.Repository, m *repository.Mark, held map[string]repository.LockInfo, now time.Time, grace time.Duration) string {
	if m.Completed == nil {
		return "a mark whose locks are not listed yet (this run lists them)"
	}
	if at := m.Completed.Add(grace); now.Before(at) {
		return "the grace period, until " + at.Format(time.RFC3339)
	}
	for _, ml := range m.Locks {
		if l, ok := held[ml.Name]; ok && !repo.HolderGone(l, lockSkew) {
			return "a run that was running during the mark: " + l.String()
		}
	}
	return ""
}

// complete writes a complete copy of each incomplete mark with the locks
// held now (other than this run's), then deletes the incomplete one.
func complete(ctx context.Context, repo *repository.Repository, marks []*repository.Mark) error {
	if !slices.ContainsFunc(marks, func(m *repository.Mark) bool { return m.Completed == nil }) {
		return nil
	}
	locks, err := repo.Locks(ctx)
	if err != nil {
		return err
	}
	own := repo.OwnLocks()
	var listed []repository.MarkedLock
	for _, l := range locks {
		if !slices.Contains(own, l.Name) {
			listed = append(listed, repository.MarkedLock{Name: l.Name, Host: l.Host, PID: l.PID, Time: l.Time})
		}
	}
	now := repo.Now()
	for _, m := range marks {
		if m.Completed != nil {
			continue
		}
		old := m.ID
		m.Completed, m.Locks = &now, listed
		if err := repo.SaveMark(ctx, m); err != nil {
			return err
		}
		if err := repo.DeleteMark(ctx, old); err != nil {
			return err
		}
	}
	return nil
}

// deleteAll deletes packs, then the marks that named them: a crash in
// between leaves marks whose packs are gone, which the next run deletes.
func deleteAll(ctx context.Context, repo *repository.Repository, packs []pack.ID, marks []*repository.Mark) error {
	if len(packs) == 0 && len(marks) == 0 {
		return nil
	}
	// Deleting relies on the lock: a lost one lets another prune run.
	if err := repo.CheckLocks(ctx); err != nil {
		return err
	}
	for _, p := range packs {
		if err := repo.Target().Delete(ctx, repository.PackName(p)); err != nil && !errors.Is(err, targets.ErrNotFound) {
			return fmt.Errorf("delete pack: %w", err)
		}
	}
	for _, m := range marks {
		if err := repo.DeleteMark(ctx, m.ID); err != nil && !errors.Is(err, targets.ErrNotFound) {
			return err
		}
	}
	return nil
}

// sortedPacks returns the keys of m in a stable order.
func sortedPacks(m map[pack.ID][]pack.Entry) []pack.ID {
	ps := make([]pack.ID, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	return ps
}

// homeUsed makes p the home of each used blob among entries that has none
// yet, and reports whether it did for any.
func homeUsed(home map[blobKey]pack.ID, used map[blobKey]struct{}, p pack.ID, entries []pack.Entry) bool {
	took := false
	for _, e := range entries {
		k := blobKey{e.Type, e.ID}
		if _, ok := used[k]; ok {
			if _, taken := home[k]; !taken {
				home[k] = p
				took = true
			}
		}
	}
	return took
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

// usedBlobs reads the listed snapshots and walks their trees for the blobs
// they need. A snapshot forgotten since the listing is left out; one that
// is damaged, or a tree that cannot be read, stops the prune: what they
// need is unknown, and deleting could lose it.
func usedBlobs(ctx context.Context, repo *repository.Repository, ids []pack.ID) (map[blobKey]struct{}, error) {
	snaps, damaged, err := repo.LoadSnapshots(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("prune needs every snapshot: %w", err)
	}
	if damaged > 0 {
		return nil, fmt.Errorf("prune needs every snapshot: %d of %d could not be read (%w; forget the damaged ones, or run check)",
			damaged, len(ids), repository.ErrDamaged)
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
