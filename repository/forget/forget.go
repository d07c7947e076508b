// Package forget removes snapshots from a repository: those a user names,
// or those a retention policy does not keep. It removes only snapshot
// files; the data they alone needed goes with a later prune.
package forget

import (
	"context"
	"errors"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/repository/retention"
)

// Options say which snapshots to remove.
type Options struct {
	// IDs names snapshots by id prefix (at least 4 hex digits) or
	// "latest"; a damaged snapshot can be named too (it is listed, not
	// loaded). Without IDs, Policy decides among the snapshots Filter
	// matches.
	IDs    []string
	Filter repository.Filter
	Policy retention.Policy
	// DryRun decides and removes nothing.
	DryRun bool
}

// Result is what Run decided.
type Result struct {
	// Groups are the policy's decisions, group by group (none with IDs).
	Groups []retention.Group
	// Removed are the snapshots removed (with DryRun: to remove).
	Removed []pack.ID
}

// ErrNoPolicy is Run's error when neither IDs nor a policy say what to
// remove: an empty policy would keep nothing and so remove everything.
var ErrNoPolicy = errors.New("nothing says what to forget: name snapshots or give a policy that keeps some")

// Run removes the snapshots o selects. The caller holds a shared lock.
func Run(ctx context.Context, repo *repository.Repository, o Options) (*Result, error) {
	if len(o.IDs) > 0 && !o.Policy.Empty() {
		return nil, errors.New("give snapshot ids or a policy, not both")
	}
	res := &Result{}
	var err error
	if len(o.IDs) > 0 {
		res.Removed, err = byID(ctx, repo, o.IDs)
	} else {
		res.Groups, res.Removed, err = byPolicy(ctx, repo, o)
	}
	if err != nil || o.DryRun {
		return res, err
	}
	for _, id := range res.Removed {
		if err := repo.DeleteSnapshot(ctx, id); err != nil {
			return res, fmt.Errorf("forget %s: %w", id.Short(), err)
		}
	}
	return res, nil
}

func byID(ctx context.Context, repo *repository.Repository, refs []string) ([]pack.ID, error) {
	stored, err := repo.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	var all []*repository.Snapshot // loaded for "latest" only
	var ids []pack.ID
	for _, ref := range refs {
		if ref == "latest" {
			if all == nil {
				if all, err = repo.Snapshots(ctx); err != nil {
					return nil, err
				}
			}
			s, err := repository.FindSnapshot(all, ref, repository.Filter{})
			if err != nil {
				return nil, err
			}
			ids = append(ids, s.ID)
			continue
		}
		id, err := repository.ResolveSnapshotID(stored, ref)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func byPolicy(ctx context.Context, repo *repository.Repository, o Options) ([]retention.Group, []pack.ID, error) {
	if o.Policy.Empty() {
		return nil, nil, ErrNoPolicy
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, nil, err
	}
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, nil, err
	}
	var selected []*repository.Snapshot
	for _, s := range all {
		if o.Filter.Match(s) {
			selected = append(selected, s)
		}
	}
	p := o.Policy
	p.Now = repo.Now()
	groups := retention.Apply(selected, p)
	var remove []pack.ID
	for _, g := range groups {
		for _, d := range g.Decisions {
			if !d.Keep {
				remove = append(remove, d.Snapshot.ID)
			}
		}
	}
	return groups, remove, nil
}
