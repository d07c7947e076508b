// Package checker verifies a repository: that every snapshot's trees and
// chunks are indexed and stored, and (with ReadData) that the stored bytes
// authenticate. When it finds damage it names the snapshots and files that
// the damage affects.
package checker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// Options select how deep the check goes.
type Options struct {
	ReadData bool    // read and authenticate every pack
	Subset   float64 // with ReadData, the fraction of packs to read (0 or 1: all)
	// Rand picks the subset (a default source if nil).
	Rand     *rand.Rand
	Progress *Progress
}

// Progress counts packs read, for a display.
type Progress struct {
	PacksTotal, PacksRead atomic.Int64
}

// Problem is one thing found wrong.
type Problem struct {
	Object  string `json:"object"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Object + ": " + p.Message }

// Affected lists what damage makes unrestorable in one snapshot.
type Affected struct {
	Snapshot string   `json:"snapshot"`
	Paths    []string `json:"paths"`
}

// Report is the outcome of a check.
type Report struct {
	Snapshots int `json:"snapshots"`
	Trees     int `json:"trees"`
	Blobs     int `json:"blobs"`
	Packs     int `json:"packs"`
	PacksRead int `json:"packs_read"`
	// UnreferencedPacks are named by no index file: left by interrupted
	// or still running backups (harmless), or named only by an index file
	// that was lost or damaged. Their headers are read: a pack holding a
	// blob that a snapshot needs is also a problem (run repair index).
	UnreferencedPacks []string `json:"unreferenced_packs,omitempty"`
	// MarkedPacks are packs a prune marked for deletion: no index names
	// them, and a later prune deletes them once no run can rely on them.
	MarkedPacks int `json:"marked_packs,omitempty"`
	// NeededMarked counts blobs a snapshot needs that only a marked pack
	// holds (a backup that ran beside the prune used them): they are read
	// from there, and the next prune puts them back in the index.
	NeededMarked int `json:"needed_marked,omitempty"`
	// Problems are damage: objects missing, or failing authentication.
	Problems []Problem `json:"problems,omitempty"`
	// Unreadable are objects the store would not serve (after retries);
	// they are not known to be damaged, and a later check may read them.
	Unreadable []Problem  `json:"unreadable,omitempty"`
	Affected   []Affected `json:"affected,omitempty"`
	// DamagedPacks are the indexed packs that are missing, truncated, do
	// not match their name, or hold a blob that fails authentication:
	// what repair.Packs takes out of the index.
	DamagedPacks []string `json:"damaged_packs,omitempty"`
}

// OK reports whether nothing is damaged and everything could be read.
func (r *Report) OK() bool { return len(r.Problems) == 0 && len(r.Unreadable) == 0 }

// Damaged reports whether the check found damage.
func (r *Report) Damaged() bool { return len(r.Problems) > 0 }

type checker struct {
	repo *repository.Repository
	opts Options
	rep  Report

	mu  sync.Mutex
	bad map[blobRef]string // damaged or missing blob -> reason
	// orphans are the blobs of unreferenced packs, by their packs.
	orphans       map[blobRef]pack.ID
	orphanEntries map[pack.ID][]pack.Entry
	marked        map[pack.ID][]pack.Entry // packs of the marks, with their blobs
}

type blobRef struct {
	t  pack.BlobType
	id pack.ID
}

func (c *checker) problem(object, format string, args ...any) {
	c.mu.Lock()
	c.rep.Problems = append(c.rep.Problems, Problem{Object: object, Message: fmt.Sprintf(format, args...)})
	c.mu.Unlock()
}

// isDamage tells damage (an object missing, failing authentication or
// decoding) from a failure to read (the store failed, even after retries).
func isDamage(err error) bool {
	return errors.Is(err, repository.ErrDamaged) || errors.Is(err, targets.ErrNotFound) ||
		errors.Is(err, repository.ErrBlobNotFound) || errors.Is(err, pack.ErrFormat)
}

// failed records err about object as damage or as a failed read.
func (c *checker) failed(object string, err error) {
	if isDamage(err) {
		c.problem(object, "%v", err)
		return
	}
	c.mu.Lock()
	c.rep.Unreadable = append(c.rep.Unreadable, Problem{Object: object, Message: err.Error()})
	c.mu.Unlock()
}

// damagedPack records an indexed pack as damaged (once).
func (c *checker) damagedPack(p pack.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, orphan := c.orphanEntries[p]; orphan || slices.Contains(c.rep.DamagedPacks, p.String()) {
		return
	}
	c.rep.DamagedPacks = append(c.rep.DamagedPacks, p.String())
}

func (c *checker) markBad(t pack.BlobType, id pack.ID, why string) {
	c.mu.Lock()
	c.bad[blobRef{t, id}] = why
	c.mu.Unlock()
}

// Check runs the checks. An error means the check itself could not run
// (for example the target is unreachable); damage is reported in Report.
func Check(ctx context.Context, repo *repository.Repository, opts Options) (*Report, error) {
	c := &checker{repo: repo, opts: opts, bad: map[blobRef]string{},
		orphans: map[blobRef]pack.ID{}, orphanEntries: map[pack.ID][]pack.Entry{}, marked: map[pack.ID][]pack.Entry{}}
	if c.opts.Progress == nil {
		c.opts.Progress = &Progress{}
	}
	// Snapshots first, then the index: a backup saves its snapshot only
	// after the index files that name its data, so every snapshot seen
	// here has its index files in place before they are listed. A backup
	// that finishes during the check is then no false alarm.
	snaps, err := c.loadSnapshots(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.loadIndex(ctx); err != nil {
		return nil, err
	}
	packs, err := c.checkPacksExist(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.checkTrees(ctx, snaps); err != nil {
		return nil, err
	}
	if opts.ReadData {
		if err := c.readPacks(ctx, packs); err != nil {
			return nil, err
		}
	}
	if len(c.bad) > 0 {
		if err := c.findAffected(ctx, snaps); err != nil {
			return nil, err
		}
	}
	for _, ps := range [][]Problem{c.rep.Problems, c.rep.Unreadable} {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Object < ps[j].Object })
	}
	return &c.rep, nil
}

// loadIndex loads each index file on its own so that a damaged one is a
// reported problem rather than the end of the check. One that vanishes
// between the listing and the read was superseded by a prune running
// beside the check: the listing is taken again for the file that replaced
// it.
func (c *checker) loadIndex(ctx context.Context) error {
	loaded := map[pack.ID]bool{}
	for pass := 0; ; pass++ {
		ids, err := c.repo.IndexFiles(ctx)
		if err != nil {
			return err
		}
		vanished := false
		for _, id := range ids {
			if loaded[id] {
				continue
			}
			f, err := c.repo.LoadIndexFile(ctx, id)
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, targets.ErrNotFound) && pass < 2:
				vanished = true
				continue
			case err != nil:
				c.failed(repository.KindIndex.Name(id), err)
				continue
			}
			loaded[id] = true
			c.repo.Index().AddFile(f)
		}
		if !vanished {
			break
		}
	}
	c.rep.Blobs = c.repo.Index().Len()
	// The marks last: a prune marks packs before it removes them from the
	// index, so every pack missing from the index files read above that a
	// prune took out is in a mark read here.
	marks, err := c.repo.LoadMarked(ctx)
	if err != nil {
		return err
	}
	for _, m := range marks {
		for _, p := range m.Packs {
			c.marked[p.Pack] = p.Entries
		}
	}
	return nil
}

// checkPacksExist compares the packs named by the index with the stored
// ones, returning the stored sizes of indexed packs.
func (c *checker) checkPacksExist(ctx context.Context) (map[pack.ID]int64, error) {
	stored := map[pack.ID]int64{}
	err := c.repo.Target().List(ctx, repository.KindData.Prefix(), func(fi targets.Info) error {
		id, err := pack.ParseID(path.Base(fi.Name))
		if err != nil || repository.PackName(id) != fi.Name {
			c.problem(fi.Name, "stray object among the packs")
			return nil
		}
		stored[id] = fi.Size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	indexed := map[pack.ID]int64{}
	ends := map[pack.ID]int64{}
	c.repo.Index().Each(func(t pack.BlobType, id pack.ID, l index.Location) {
		if end := int64(l.Entry.Offset) + int64(l.Entry.Length); end > ends[l.Pack] {
			ends[l.Pack] = end
		}
	})
	for _, p := range c.repo.Index().Packs() {
		size, ok := stored[p]
		switch {
		case !ok:
			c.problem(repository.PackName(p), "pack is missing")
			c.markPack(p, "pack is missing")
			c.damagedPack(p)
		case size < ends[p]+4:
			c.problem(repository.PackName(p), "pack is truncated: %d bytes, blobs end at %d", size, ends[p])
			c.markPack(p, "pack is truncated")
			c.damagedPack(p)
		default:
			indexed[p] = size
		}
	}
	inIndex := map[pack.ID]bool{}
	for _, p := range c.repo.Index().Packs() {
		inIndex[p] = true
	}
	for p, size := range stored {
		if inIndex[p] {
			continue
		}
		entries, marked := c.marked[p]
		if marked {
			c.rep.MarkedPacks++
			c.orphanEntries[p] = entries
			indexed[p] = size // read by --read-data too
			continue
		}
		c.rep.UnreferencedPacks = append(c.rep.UnreferencedPacks, p.String())
		entries, err := c.repo.PackHeader(ctx, p, size)
		if errors.Is(err, targets.ErrNotFound) {
			// Deleted since the listing: a prune swept it (a pack
			// named by no index holds nothing a listed snapshot needs).
			c.rep.UnreferencedPacks = c.rep.UnreferencedPacks[:len(c.rep.UnreferencedPacks)-1]
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c.failed(repository.PackName(p), fmt.Errorf("unreferenced pack: %w", err))
			continue
		}
		c.orphanEntries[p] = entries
		for _, e := range entries {
			c.orphans[blobRef{e.Type, e.ID}] = p
		}
		indexed[p] = size // read by --read-data too
	}
	sort.Strings(c.rep.UnreferencedPacks)
	c.rep.Packs = len(stored)
	return indexed, nil
}

func (c *checker) neededMarked() {
	c.mu.Lock()
	c.rep.NeededMarked++
	c.mu.Unlock()
}

func (c *checker) markPack(p pack.ID, why string) {
	c.repo.Index().Each(func(t pack.BlobType, id pack.ID, l index.Location) {
		if l.Pack == p {
			c.markBad(t, id, why)
		}
	})
}

func (c *checker) loadSnapshots(ctx context.Context) ([]*repository.Snapshot, error) {
	ids, err := c.repo.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []*repository.Snapshot
	for _, id := range ids {
		s, err := c.repo.LoadSnapshot(ctx, id)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, targets.ErrNotFound):
			continue // forgotten since the listing
		case err != nil:
			c.failed(repository.KindSnapshots.Name(id), err)
			continue
		}
		out = append(out, s)
	}
	c.rep.Snapshots = len(out)
	return out, nil
}

// checkTrees loads every tree of every snapshot once and checks that each
// data blob is indexed in a pack that exists.
func (c *checker) checkTrees(ctx context.Context, snaps []*repository.Snapshot) error {
	roots := make([]pack.ID, len(snaps))
	for i, s := range snaps {
		roots[i] = s.Tree
	}
	return c.repo.EachTree(ctx, roots, func(id pack.ID, t *repository.Tree, err error) error {
		c.rep.Trees++
		if _, bad := c.bad[blobRef{pack.TreeBlob, id}]; bad {
			return repository.ErrSkipDir // already reported with its pack
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if p, ok := c.orphans[blobRef{pack.TreeBlob, id}]; ok {
				c.problem("tree "+id.String(), "not in any index, but stored in unreferenced pack %s (run lifeboat repair index)", p.Short())
			} else {
				c.failed("tree "+id.String(), err)
			}
			c.markBad(pack.TreeBlob, id, err.Error())
			return nil
		}
		if !c.repo.Index().Has(pack.TreeBlob, id) {
			c.neededMarked() // read through Lookup, from a marked pack
		}
		for _, n := range t.Nodes {
			for _, b := range n.Content {
				if c.repo.Index().Has(pack.DataBlob, b) {
					continue
				}
				if loc, ok := c.repo.Lookup(pack.DataBlob, b); ok && c.marked[loc.Pack] != nil {
					c.neededMarked()
					continue
				}
				if _, known := c.bad[blobRef{pack.DataBlob, b}]; known {
					continue
				}
				if p, ok := c.orphans[blobRef{pack.DataBlob, b}]; ok {
					c.problem("data blob "+b.String(), "not in any index, but stored in unreferenced pack %s (run lifeboat repair index)", p.Short())
				} else {
					c.problem("data blob "+b.String(), "not in any index and in no pack (lost: lifeboat repair snapshots saves what is left)")
				}
				c.markBad(pack.DataBlob, b, "not in any index")
			}
		}
		return nil
	})
}
