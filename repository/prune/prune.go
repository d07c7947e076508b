// Package prune deletes what no snapshot needs: packs whose blobs are all
// unused, and packs that are mostly unused once their used blobs are copied
// into new packs. It runs beside any number of backups, restores and
// checks: deletion has two phases (docs/design.md, "Prune beside running
// backups").
//
// A run is planned (NewPlan, which only reads) and then executed
// (Execute). It (1) copies the used blobs of packs to repack into new
// packs with their own index files; (2) writes a mark listing the packs
// no longer needed, with their blobs; (3) writes one index file naming
// every kept pack, superseding the older index files, and (4) deletes
// those; (5) lists the locks and completes the mark with that list. A
// later run (6)
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
	// Actions lists, for a dry run, what the run would do to each pack.
	Actions []Action `json:"actions,omitempty"`
}

// staleTempAge is how old a temporary pack file must be to be removed: a
// running backup writes one in seconds.
const staleTempAge = time.Hour

type blobKey struct {
	t  pack.BlobType
	id pack.ID
}

// Run prunes the repository under the prune lock (the exclusive one with
// Exclusive): NewPlan, then, unless DryRun, Execute. The repository's
// index need not be loaded.
func Run(ctx context.Context, repo *repository.Repository, opts Options) (_ *Report, err error) {
	if err := opts.check(); err != nil {
		return nil, err
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
	plan, err := NewPlan(ctx, repo, opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		rep := plan.Report
		rep.Actions = plan.Actions
		return &rep, nil
	}
	if err := plan.Execute(ctx); err != nil {
		return nil, err
	}
	return &plan.Report, nil
}

// check fills in the defaults of o and refuses values out of range.
func (o *Options) check() error {
	switch {
	case o.RepackUnused == 0:
		o.RepackUnused = DefaultRepackUnused
	case o.RepackUnused < 0 || o.RepackUnused > 1 || math.IsNaN(o.RepackUnused):
		return fmt.Errorf("repack-unused must be more than 0 and at most 1 (a share: 0.5 is half), not %v", o.RepackUnused)
	}
	switch {
	case o.Grace == 0:
		o.Grace = DefaultGrace
	case o.Grace < MinGrace:
		return fmt.Errorf("the grace period must be at least %s, not %s (--exclusive deletes at once, with every backup kept out)", MinGrace, o.Grace)
	}
	return nil
}

// A Plan is what a prune decided, from the marks, snapshots, index files
// and packs as they were listed: what to copy, mark, index and delete.
// NewPlan only reads; Execute writes, in an order that keeps the
// repository valid at every step.
type Plan struct {
	// Report holds the plan's figures (not its Actions); Execute does not
	// change them.
	Report
	// Actions lists what Execute does to each pack.
	Actions []Action

	repo      *repository.Repository
	exclusive bool
	marks     []*repository.Mark // every mark, before this run's
	due       map[pack.ID]bool   // the marks whose packs go
	oldIndex  []pack.ID          // the index files the new one supersedes
	rewrite   bool               // whether a new index is written
	packs     []pack.ID          // in the order homes were chosen
	entries   map[pack.ID][]pack.Entry
	home      map[blobKey]pack.ID // the one pack that keeps each used blob
	repack    []pack.ID
	keep      map[pack.ID]bool
	mark      *repository.Mark // this run's, if it marks any pack
	sweep     []pack.ID        // the packs deleted now
}

// An Action is what a prune does to one pack.
type Action struct {
	Pack pack.ID `json:"pack"`
	Size int64   `json:"size"`
	// Do is "mark" (for a later run to delete; a pack to repack has its
	// used blobs copied first, and Why says so), "delete" (now: with
	// Exclusive, or a due mark's pack) or "index" (name it in the index
	// again: a snapshot needs it).
	Do  string `json:"do"`
	Why string `json:"why"`
}

// NewPlan decides what a prune of repo does. The caller holds the prune
// lock, or the exclusive one if opts.Exclusive.
func NewPlan(ctx context.Context, repo *repository.Repository, opts Options) (*Plan, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	p := &Plan{repo: repo, exclusive: opts.Exclusive}
	rep := &p.Report
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
	p.marks, p.due = marks, due
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
	packEntries, stored := st.Packs, st.Stored
	p.oldIndex, p.entries = st.Files, packEntries
	rep.Packs, rep.DamagedIndexFiles, rep.MissingPacks = len(stored), st.Damaged, st.Missing
	markedBy := map[pack.ID][]*repository.Mark{}
	markedEntries := map[pack.ID][]pack.Entry{}
	for _, m := range marks {
		for _, mp := range m.Packs {
			markedBy[mp.Pack] = append(markedBy[mp.Pack], m)
			markedEntries[mp.Pack] = mp.Entries
		}
	}
	// What the packs that no index names hold (from their mark, or their
	// header) is known before the trees are walked: a tree may sit in one
	// of them (its index file was lost, or a backup used a marked pack).
	unindexed := map[pack.ID][]pack.Entry{}
	for id, size := range stored {
		if _, indexed := packEntries[id]; indexed {
			continue
		}
		entries, marked := markedEntries[id]
		if !marked {
			entries, err = repo.PackHeader(ctx, id, size)
			switch {
			case errors.Is(err, repository.ErrDamaged):
				rep.Unidentified++ // kept: what it holds is unknown
				continue
			case errors.Is(err, targets.ErrNotFound):
				continue // a temporary upload of a killed run, gone since the listing
			case err != nil:
				return nil, fmt.Errorf("read the header of unreferenced pack %s: %w", id.Short(), err)
			}
		}
		unindexed[id] = entries
		repo.Index().AddPack(id, entries)
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
	for _, id := range packs {
		if _, ok := stored[id]; !ok {
			continue // indexed but missing: check reports it; nothing to keep here
		}
		homeUsed(home, used, id, packEntries[id])
	}
	// A pack that no index names is deleted only when it holds nothing a
	// snapshot needs that no indexed pack holds: a lost index file, or a
	// backup beside the prune, must not turn needed data into garbage.
	var sweep, orphans []pack.ID
	for _, id := range sortedPacks(unindexed) {
		if homeUsed(home, used, id, unindexed[id]) {
			packEntries[id] = unindexed[id]
			packs = append(packs, id)
			rep.Reindexed++
			why := "no readable index names it, and a snapshot needs it"
			if len(markedBy[id]) > 0 {
				rep.TakenBack++
				why = "marked, and a backup beside an earlier prune used it"
			}
			p.Actions = append(p.Actions, Action{Pack: id, Size: stored[id], Do: "index", Why: why})
			continue
		}
		switch ms := markedBy[id]; {
		case len(ms) == 0:
			orphans = append(orphans, id)
		case !slices.ContainsFunc(ms, func(m *repository.Mark) bool { return !due[m.ID] }):
			sweep = append(sweep, id) // every mark naming it is due
			p.Actions = append(p.Actions, Action{Pack: id, Size: stored[id], Do: "delete", Why: "marked by an earlier prune, and the mark is due"})
		}
	}
	for k := range used {
		if _, ok := home[k]; !ok {
			return nil, fmt.Errorf("%s blob %s is needed but in no stored pack: run check before pruning", k.t, k.id.Short())
		}
	}

	drop, repack, keep := classify(packs, stored, packEntries, home, opts.RepackUnused)
	// A blob to copy out of a pack to repack stays where a kept pack holds
	// it too (an earlier run that crashed after copying left such copies):
	// copying it again would leave a kept pack with garbage for the next
	// run to repack, and prunes would not settle.
	if rehome(home, packs, packEntries, repack, keep) {
		drop, repack, keep = classify(packs, stored, packEntries, home, opts.RepackUnused)
	}
	for _, id := range packs {
		if _, ok := stored[id]; !ok {
			continue
		}
		for _, e := range packEntries[id] {
			if home[blobKey{e.Type, e.ID}] != id {
				rep.BlobsRemoved++
			}
		}
	}
	p.packs, p.home, p.repack, p.keep = packs, home, repack, keep
	mark := &repository.Mark{Created: repo.Now()}
	now := "mark"
	if opts.Exclusive {
		now = "delete"
	}
	for _, group := range []struct {
		packs []pack.ID
		why   string
	}{{drop, "no snapshot needs a blob of it"}, {repack, "mostly unused: its used blobs are copied first"}, {orphans, "no index names it, and no snapshot needs it"}} {
		for _, id := range group.packs {
			entries := packEntries[id]
			if entries == nil {
				entries = unindexed[id]
			}
			mark.Packs = append(mark.Packs, index.PackBlobs{Pack: id, Entries: entries})
			rep.BytesMarked += stored[id]
			p.Actions = append(p.Actions, Action{Pack: id, Size: stored[id], Do: now, Why: group.why})
		}
	}
	if len(mark.Packs) > 0 {
		p.mark = mark
	}
	rep.PacksMarked, rep.PacksRepacked, rep.Unreferenced = len(mark.Packs), len(repack), len(orphans)
	if opts.Exclusive { // nothing else runs: this run's packs go at once
		sweep = append(sweep, slices.Concat(drop, repack, orphans)...)
	}
	p.sweep = sweep
	rep.PacksDeleted = len(sweep)
	for _, id := range sweep {
		rep.BytesFreed += stored[id]
	}
	rep.MarksSwept = len(due)
	temps, size, err := sweepTemps(ctx, repo, true)
	if err != nil {
		return nil, err
	}
	rep.TempFiles, rep.BytesFreed = temps, rep.BytesFreed+size
	p.rewrite = len(drop) > 0 || len(repack) > 0 || rep.Reindexed > 0 || rep.DamagedIndexFiles > 0 || rep.MissingPacks > 0
	if p.rewrite {
		rep.IndexFiles = len(p.oldIndex)
	}
	return p, nil
}

// Execute carries out the plan. Its lock must still be held.
func (p *Plan) Execute(ctx context.Context) error {
	repo := p.repo
	if _, _, err := sweepTemps(ctx, repo, false); err != nil {
		return err
	}
	// (1) Copy the used blobs out of the packs to repack; the new packs get
	// index files of their own.
	if len(p.repack) > 0 {
		w := repo.NewWriter(ctx)
		for _, id := range p.repack {
			if err := copyUsed(ctx, repo, w, id, p.entries[id], p.home); err != nil {
				w.Abort()
				return err
			}
		}
		if _, err := w.Finish(); err != nil {
			return err
		}
	}
	// (2) The mark, before its packs leave the index: a crash after (4)
	// leaves it for the next run to complete.
	marks := p.marks
	if p.mark != nil {
		if err := repo.SaveMark(ctx, p.mark); err != nil {
			return err
		}
		marks = append(slices.Clip(marks), p.mark)
	}
	// (3) One index for every kept pack, superseding the old index files.
	if p.rewrite {
		f := &index.File{Supersedes: p.oldIndex}
		for _, id := range p.packs {
			if p.keep[id] {
				f.Packs = append(f.Packs, index.PackBlobs{Pack: id, Entries: p.entries[id]})
			}
		}
		if _, err := repo.SaveIndexFile(ctx, f); err != nil {
			return err
		}
		// Losing the lock would let another prune run beside this one.
		if err := repo.CheckLocks(ctx); err != nil {
			return err
		}
		// (4) The old index files.
		for _, id := range p.oldIndex {
			if err := repo.DeleteIndexFile(ctx, id); err != nil {
				return err
			}
		}
	}
	if p.exclusive {
		return deleteAll(ctx, repo, p.sweep, marks)
	}
	// (5) Complete the marks (this run's, and any an earlier run left
	// incomplete): the locks listed now include every run that read an
	// index naming their packs.
	if err := complete(ctx, repo, marks); err != nil {
		return err
	}
	// (6) Delete the packs of the marks that are due, then the marks.
	var swept []*repository.Mark
	for _, m := range marks {
		if p.due[m.ID] {
			swept = append(swept, m)
		}
	}
	return deleteAll(ctx, repo, p.sweep, swept)
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

// classify sorts the stored packs by what their home blobs leave of
// them: nothing (drop), at least the repackUnused share unused (repack),
// or enough to keep.
func classify(packs []pack.ID, stored map[pack.ID]int64, entries map[pack.ID][]pack.Entry, home map[blobKey]pack.ID, repackUnused float64) (drop, repack []pack.ID, keep map[pack.ID]bool) {
	keep = map[pack.ID]bool{}
	for _, p := range packs {
		if _, ok := stored[p]; !ok {
			continue
		}
		var usedBytes, allBytes int64
		for _, e := range entries[p] {
			allBytes += int64(e.Length)
			if home[blobKey{e.Type, e.ID}] == p {
				usedBytes += int64(e.Length)
			}
		}
		switch {
		case usedBytes == 0:
			drop = append(drop, p)
		case allBytes > 0 && float64(allBytes-usedBytes)/float64(allBytes) >= repackUnused:
			repack = append(repack, p)
		default:
			keep[p] = true
		}
	}
	return drop, repack, keep
}

// rehome moves the home of each blob of a pack to repack to the first
// kept pack (in packs' order) that holds it too, and reports whether it
// moved any. Kept packs only gain used bytes by it, so they stay kept, and
// the next run, seeing no other copy, picks the same homes.
func rehome(home map[blobKey]pack.ID, packs []pack.ID, entries map[pack.ID][]pack.Entry, repack []pack.ID, keep map[pack.ID]bool) bool {
	if len(repack) == 0 {
		return false
	}
	kept := map[blobKey]pack.ID{}
	for _, p := range packs {
		if !keep[p] {
			continue
		}
		for _, e := range entries[p] {
			k := blobKey{e.Type, e.ID}
			if _, ok := kept[k]; !ok {
				kept[k] = p
			}
		}
	}
	moved := false
	for _, p := range repack {
		for _, e := range entries[p] {
			k := blobKey{e.Type, e.ID}
			if q, ok := kept[k]; ok && home[k] == p {
				home[k] = q
				moved = true
			}
		}
	}
	return moved
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
func sweepTemps(ctx context.Context, repo *repository.Repository, dryRun bool) (n int, size int64, err error) {
	ts, ok := repo.Target().(targets.TempSweeper)
	if !ok {
		return 0, 0, nil
	}
	return ts.SweepTemps(ctx, repo.Now().Add(-staleTempAge), dryRun)
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
