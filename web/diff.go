package web

import (
	"net/http"
	"slices"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// maxChanges bounds the changes a diff page lists; its counts cover all.
const maxChanges = 2000

// DiffPage is what changed from one snapshot to another
// (GET /api/snapshots/ID/diff?with=OTHER, ID the newer).
type DiffPage struct {
	From    SnapshotRow        `json:"from"`
	To      SnapshotRow        `json:"to"`
	Changes []snapshot.Change  `json:"changes"` // the first maxChanges, in path order
	Stats   snapshot.DiffStats `json:"statistics"`
	Left    int                `json:"changes_not_listed,omitempty"`
}

// previous is the snapshot before sn of the same volume, or of the same
// host and paths: what a diff compares sn with unless told.
func previous(all []*repository.Snapshot, sn *repository.Snapshot) *repository.Snapshot {
	var best *repository.Snapshot
	for _, o := range all {
		same := sn.Volume != nil && o.Volume != nil && o.Volume.Name == sn.Volume.Name ||
			sn.Volume == nil && o.Volume == nil && o.Host == sn.Host && slices.Equal(o.Paths, sn.Paths)
		if same && o.Time.Before(sn.Time) && (best == nil || o.Time.After(best.Time)) {
			best = o
		}
	}
	return best
}

// diff compares the snapshot to with the one ?with= names, by default the
// one before it; a refusal is answered.
func (s *Server) diff(w http.ResponseWriter, r *http.Request, repo *repository.Repository, to *repository.Snapshot) (*DiffPage, bool) {
	all, err := s.src.Snapshots(r.Context())
	var from *repository.Snapshot
	switch with := r.URL.Query().Get("with"); {
	case err != nil:
	case with != "":
		from, err = repository.FindSnapshot(all, with, repository.Filter{})
	default:
		if from = previous(all, to); from == nil {
			http.Error(w, "no earlier snapshot of the same volume or paths to compare with", http.StatusNotFound)
			return nil, false
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil, false
	}
	d := &DiffPage{From: row(from), To: row(to), Changes: []snapshot.Change{}}
	d.Stats, err = snapshot.Diff(r.Context(), repo, from.Tree, to.Tree, func(c snapshot.Change) {
		if len(d.Changes) < maxChanges {
			d.Changes = append(d.Changes, c)
		} else {
			d.Left++
		}
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return nil, false
	}
	return d, true
}

func (s *Server) apiDiff(w http.ResponseWriter, r *http.Request, repo *repository.Repository, sn *repository.Snapshot) {
	if d, ok := s.diff(w, r, repo, sn); ok {
		writeJSON(w, http.StatusOK, d)
	}
}

func (s *Server) diffPage(w http.ResponseWriter, r *http.Request, repo *repository.Repository, sn *repository.Snapshot) {
	if d, ok := s.diff(w, r, repo, sn); ok {
		s.render(w, "diff.html", struct {
			*DiffPage
			Host string
		}{d, s.o.Host})
	}
}
