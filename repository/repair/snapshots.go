package repair

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// RepairedTag marks a snapshot written by Snapshots; it supersedes its
// original for "latest" (repository.FindSnapshot).
const RepairedTag = repository.RepairedTag

// maxLost is how many lost paths a repaired snapshot lists by name.
const maxLost = 100

// SnapshotsOptions tune Snapshots.
type SnapshotsOptions struct {
	// Forget removes each damaged original once its repaired copy is saved.
	Forget bool
	DryRun bool
	// OnLost is told about each path that a repaired snapshot leaves out.
	OnLost func(snapshot pack.ID, path, why string)
}

// Repaired is one snapshot that Snapshots rewrote (or would rewrite).
type Repaired struct {
	Original pack.ID  `json:"original"`
	New      *pack.ID `json:"new,omitempty"` // unset with DryRun
	Lost     int      `json:"lost"`          // paths left out
}

// SnapshotsReport says what Snapshots did.
type SnapshotsReport struct {
	Snapshots int        `json:"snapshots"` // examined
	Repaired  []Repaired `json:"repaired,omitempty"`
	Forgotten int        `json:"forgotten"`
}

// ErrReindexFirst: a blob a snapshot needs is in a pack that no index
// names. It is not lost: Index makes it usable, and must run first.
var ErrReindexFirst = errors.New("a pack that no index names holds data a snapshot needs: run repair index first")

// Snapshots rewrites every snapshot that needs a blob which is not in the
// index or whose pack is not stored: a file with lost content and a
// directory whose listing is lost are left out (a directory keeps its
// metadata, empty), and everything else is kept as it was. The new
// snapshot carries the tag "repaired", is marked incomplete and lists what
// it left out; the original stays unless Forget is set. The caller holds a
// lock and has loaded the index, in that order.
//
// Before it calls anything lost, it reads the headers of packs that no
// index names: a blob found there only needs repair index, and Snapshots
// stops with ErrReindexFirst rather than drop it.
func Snapshots(ctx context.Context, repo *repository.Repository, opts SnapshotsOptions) (*SnapshotsReport, error) {
	if !repo.Locked() {
		return nil, repository.ErrNotLocked
	}
	stored, err := repo.StoredPacks(ctx)
	if err != nil {
		return nil, err
	}
	if err := noUnindexedNeeds(ctx, repo, stored); err != nil {
		return nil, err
	}
	snaps, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	rep := &SnapshotsReport{Snapshots: len(snaps)}
	for _, sn := range snaps {
		rw := &rewriter{repo: repo, stored: stored, sn: sn, opts: opts, done: map[pack.ID]pack.ID{}}
		if !opts.DryRun {
			rw.w = repo.NewWriter(ctx)
		}
		root, err := rw.tree(ctx, sn.Tree, "/")
		if err != nil {
			if rw.w != nil {
				rw.w.Abort()
			}
			return rep, err
		}
		if rw.lost == 0 {
			if rw.w != nil {
				rw.w.Abort() // nothing was written
			}
			continue
		}
		r := Repaired{Original: sn.ID, Lost: rw.lost}
		if !opts.DryRun {
			if _, err := rw.w.Finish(); err != nil {
				return rep, err
			}
			if err := repo.CheckLocks(ctx); err != nil {
				return rep, err
			}
			id, err := repo.SaveSnapshot(ctx, repairedCopy(sn, root, rw.failures))
			if err != nil {
				return rep, err
			}
			r.New = &id
			if opts.Forget {
				if err := repo.DeleteSnapshot(ctx, sn.ID); err != nil {
					return rep, err
				}
				rep.Forgotten++
			}
		}
		rep.Repaired = append(rep.Repaired, r)
	}
	return rep, nil
}

func repairedCopy(sn *repository.Snapshot, root pack.ID, failures []string) *repository.Snapshot {
	c := *sn
	c.Tree = root
	c.Root.Subtree = &root
	if !slices.Contains(c.Tags, RepairedTag) {
		c.Tags = append(slices.Clone(c.Tags), RepairedTag)
	}
	c.Incomplete = true
	c.Failures = append(slices.Clone(sn.Failures), failures...)
	orig := sn.ID
	c.Parent = &orig
	return &c
}

// noUnindexedNeeds fails with ErrReindexFirst when a pack that no index
// names holds a blob that the index lacks (such a blob may be needed).
func noUnindexedNeeds(ctx context.Context, repo *repository.Repository, stored map[pack.ID]int64) error {
	indexed := map[pack.ID]bool{}
	for _, p := range repo.Index().Packs() {
		indexed[p] = true
	}
	for p, size := range stored {
		if indexed[p] {
			continue
		}
		entries, err := repo.PackHeader(ctx, p, size)
		if errors.Is(err, repository.ErrDamaged) {
			continue // unreadable: nothing in it can be used anyway
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			if _, known := repo.Lookup(e.Type, e.ID); !known { // indexed, or in a pack a prune marked
				return fmt.Errorf("%w (pack %s)", ErrReindexFirst, p.Short())
			}
		}
	}
	return nil
}

// rewriter rewrites the trees of one snapshot.
type rewriter struct {
	repo     *repository.Repository
	w        *repository.Writer // nil with DryRun
	stored   map[pack.ID]int64
	sn       *repository.Snapshot
	opts     SnapshotsOptions
	done     map[pack.ID]pack.ID // original tree -> repaired tree
	lost     int
	failures []string
}

// usable reports whether a blob is indexed in a pack that is stored.
func (rw *rewriter) usable(t pack.BlobType, id pack.ID) bool {
	loc, ok := rw.repo.Lookup(t, id)
	if !ok {
		return false
	}
	_, ok = rw.stored[loc.Pack]
	return ok
}

func (rw *rewriter) leaveOut(p, why string) {
	rw.lost++
	if len(rw.failures) < maxLost {
		rw.failures = append(rw.failures, fmt.Sprintf("%s: %s (left out by repair)", p, why))
	}
	if rw.opts.OnLost != nil {
		rw.opts.OnLost(rw.sn.ID, p, why)
	}
}

// tree returns the id of the repaired tree id at dir (id itself if nothing
// under it was lost). A tree that cannot be read becomes an empty one.
func (rw *rewriter) tree(ctx context.Context, id pack.ID, dir string) (pack.ID, error) {
	if r, ok := rw.done[id]; ok {
		return r, nil
	}
	var t *repository.Tree
	if rw.usable(pack.TreeBlob, id) {
		var err error
		t, err = rw.repo.LoadTree(ctx, id)
		if err != nil && !errors.Is(err, repository.ErrDamaged) {
			return id, err // the store failed: not known to be lost
		}
	}
	out := &repository.Tree{}
	changed := t == nil
	if t == nil {
		rw.leaveOut(dir, "directory listing lost")
	} else {
		for _, n := range t.Nodes {
			p := path.Join(dir, n.Name)
			if n.Type == repository.TypeFile && !rw.allUsable(n.Content) {
				rw.leaveOut(p, "content lost")
				changed = true
				continue
			}
			if n.Subtree != nil {
				sub, err := rw.tree(ctx, *n.Subtree, p)
				if err != nil {
					return id, err
				}
				if sub != *n.Subtree {
					n.Subtree = &sub
					changed = true
				}
			}
			out.Nodes = append(out.Nodes, n)
		}
	}
	if !changed {
		rw.done[id] = id
		return id, nil
	}
	newID := id
	if rw.w != nil {
		var err error
		if newID, err = rw.w.SaveTree(out); err != nil {
			return id, err
		}
	} else {
		newID = pack.Hash([]byte(fmt.Sprint("dry-run ", id))) // differs from id; never stored
	}
	rw.done[id] = newID
	return newID, nil
}

func (rw *rewriter) allUsable(ids []pack.ID) bool {
	for _, b := range ids {
		if !rw.usable(pack.DataBlob, b) {
			return false
		}
	}
	return true
}
