package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// RepositoryStats is the repository page (GET /api/repository).
type RepositoryStats struct {
	Snapshots   int   `json:"snapshots"`
	Packs       int   `json:"packs"`
	StoredBytes int64 `json:"stored_bytes"` // every pack
	// Blobs, their plaintext and their sealed (compressed, encrypted)
	// bytes, each blob once however many snapshots hold it.
	Blobs       int   `json:"blobs"`
	PlainBytes  int64 `json:"plain_bytes"`
	SealedBytes int64 `json:"sealed_bytes"`
	DataBytes   int64 `json:"data_bytes"` // plaintext of file data (PlainBytes less the trees)
	// SnapshotBytes is what the snapshots hold together (their files'
	// sizes added up): DedupRatio is that over DataBytes, and
	// CompressionRatio PlainBytes over SealedBytes.
	SnapshotBytes    int64                 `json:"snapshot_bytes"`
	DedupRatio       float64               `json:"dedup_ratio"`
	CompressionRatio float64               `json:"compression_ratio"`
	Locks            []repository.LockInfo `json:"locks"`
	// Growth is what the backups stored over time, from the snapshots'
	// own statistics: each snapshot's new packs, added up (prunes since
	// are not subtracted).
	Growth []GrowthPoint `json:"growth"`
}

// GrowthPoint is the bytes stored by backups up to a snapshot.
type GrowthPoint struct {
	Time   time.Time `json:"time"`
	Stored int64     `json:"stored_bytes"` // up to and with this snapshot
	Added  int64     `json:"added_bytes"`  // by this snapshot
}

func repositoryStats(ctx context.Context, repo *repository.Repository) (*RepositoryStats, error) {
	st := &RepositoryStats{Locks: []repository.LockInfo{}, Growth: []GrowthPoint{}}
	stored, err := repo.StoredPacks(ctx)
	if err != nil {
		return nil, err
	}
	st.Packs = len(stored)
	for _, n := range stored {
		st.StoredBytes += n
	}
	repo.Index().Each(func(t pack.BlobType, _ pack.ID, l index.Location) {
		st.Blobs++
		st.PlainBytes += int64(l.Entry.PlainLength())
		st.SealedBytes += int64(l.Entry.Length)
		if t == pack.DataBlob {
			st.DataBytes += int64(l.Entry.PlainLength())
		}
	})
	snaps, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	st.Snapshots = len(snaps)
	slices.SortFunc(snaps, func(a, b *repository.Snapshot) int { return a.Time.Compare(b.Time) })
	var total int64
	for _, sn := range snaps {
		st.SnapshotBytes += sn.Summary.TotalBytes
		total += sn.Summary.StoredAdded
		st.Growth = append(st.Growth, GrowthPoint{Time: sn.Time, Stored: total, Added: sn.Summary.StoredAdded})
	}
	if st.DataBytes > 0 {
		st.DedupRatio = float64(st.SnapshotBytes) / float64(st.DataBytes)
	}
	if st.SealedBytes > 0 {
		st.CompressionRatio = float64(st.PlainBytes) / float64(st.SealedBytes)
	}
	locks, err := repo.Locks(ctx)
	if err != nil {
		return nil, err
	}
	st.Locks = append(st.Locks, locks...)
	return st, nil
}

func (s *Server) repositoryData(w http.ResponseWriter, r *http.Request) (*RepositoryStats, bool) {
	repo, done, err := s.src.Repository(r.Context())
	if err != nil {
		http.Error(w, "the repository: "+err.Error(), http.StatusBadGateway)
		return nil, false
	}
	defer done()
	st, err := repositoryStats(r.Context(), repo)
	if err != nil {
		http.Error(w, "the repository: "+err.Error(), http.StatusBadGateway)
		return nil, false
	}
	return st, true
}

func (s *Server) apiRepository(w http.ResponseWriter, r *http.Request) {
	if st, ok := s.repositoryData(w, r); ok {
		writeJSON(w, http.StatusOK, st)
	}
}

func (s *Server) repositoryPage(w http.ResponseWriter, r *http.Request) {
	st, ok := s.repositoryData(w, r)
	if !ok {
		return
	}
	self, _ := os.Hostname()
	var maintenance []daemon.JobStatus
	for _, j := range s.src.Jobs() {
		if j.Kind == "prune" || j.Kind == "check" {
			maintenance = append(maintenance, j)
		}
	}
	s.render(w, "repository.html", struct {
		*RepositoryStats
		Host, Self string
		PID        int
		Plot       template.HTML
		// Maintenance are the prune and check jobs, with their results.
		Maintenance []daemon.JobStatus
	}{st, s.o.Host, self, os.Getpid(), growthPlot(st.Growth), maintenance})
}

// growthPlot draws the growth as an SVG line (server-rendered: the page
// needs no script for it). Only numbers and formatted sizes and dates go
// into it.
func growthPlot(points []GrowthPoint) template.HTML {
	const w, h, left, bottom = 720.0, 220.0, 70.0, 24.0
	if len(points) < 2 {
		return template.HTML(`<p class="detail">The plot needs two snapshots or more.</p>`)
	}
	t0, t1 := points[0].Time, points[len(points)-1].Time
	span := max(t1.Sub(t0).Seconds(), 1)
	top := max(points[len(points)-1].Stored, 1)
	x := func(t time.Time) float64 { return left + (w-left-10)*t.Sub(t0).Seconds()/span }
	y := func(v int64) float64 { return (h - bottom) - (h-bottom-10)*float64(v)/float64(top) }
	var line strings.Builder
	for i, p := range points {
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%.1f,%.1f", x(p.Time), y(p.Stored))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %.0f %.0f" role="img" aria-label="bytes stored by backups over time, %s in the end">`, w, h, human.Bytes(top))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="axis"/>`, left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="10" x2="%.0f" y2="%.0f" class="axis"/>`, left, left, h-bottom)
	fmt.Fprintf(&b, `<text x="%.0f" y="16" text-anchor="end">%s</text>`, left-6, human.Bytes(top))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">0</text>`, left-6, h-bottom)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text>`, left, h-6, t0.Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`, w-10, h-6, t1.Local().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<polyline points="%s" class="growth"/></svg>`, line.String())
	return template.HTML(b.String())
}
