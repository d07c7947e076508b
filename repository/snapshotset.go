package repository

import (
	"context"
	"sort"
	"sync"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// SnapshotSet keeps a repository's snapshots loaded from one call to the
// next, for a process that lists them again and again (the daemon's
// page): each Refresh lists the snapshot ids and loads only those it has
// not loaded before, and forgets those gone. Snapshots never change once
// saved, so what it keeps stays true. It is safe for concurrent use.
type SnapshotSet struct {
	mu   sync.Mutex
	byID map[pack.ID]*Snapshot
}

// Refresh returns every snapshot of r, oldest first.
func (s *SnapshotSet) Refresh(ctx context.Context, r *Repository) ([]*Snapshot, error) {
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.byID == nil {
		s.byID = map[pack.ID]*Snapshot{}
	}
	var missing []pack.ID
	for _, id := range ids {
		if _, ok := s.byID[id]; !ok {
			missing = append(missing, id)
		}
	}
	s.mu.Unlock()
	loaded, _, err := r.LoadSnapshots(ctx, missing)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sn := range loaded {
		s.byID[sn.ID] = sn
	}
	listed := make(map[pack.ID]bool, len(ids))
	out := make([]*Snapshot, 0, len(ids))
	for _, id := range ids {
		listed[id] = true
		if sn, ok := s.byID[id]; ok {
			out = append(out, sn)
		}
	}
	for id := range s.byID {
		if !listed[id] {
			delete(s.byID, id)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}
