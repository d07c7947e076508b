package volumes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository/retention"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// PruneOptions are those of docker volume prune, plus how to confirm.
type PruneOptions struct {
	All       bool
	Labels    []string // label=KEY[=VALUE]: all must match
	NotLabels []string // label!=KEY[=VALUE]: none may match
	DryRun    bool
	Host      string
	// Confirm is asked, with the volumes' names, before anything is done.
	Confirm func(names []string) (bool, error)
	Lines   func(line []byte)
}

// PruneResult lists what a volume prune found and did.
type PruneResult struct {
	Candidates []string          `json:"volumes"`             // what docker volume prune would remove
	Removed    []string          `json:"removed,omitempty"`   // removed, each after its snapshot
	Kept       []string          `json:"kept,omitempty"`      // kept: no complete snapshot
	Snapshots  map[string]string `json:"snapshots,omitempty"` // volume -> its safety snapshot
}

// ErrNotConfirmed: the user did not confirm; nothing was done.
var ErrNotConfirmed = errors.New("nothing removed")

// Prune snapshots exactly the volumes docker volume prune would remove on
// this engine (tagged pre-prune), and removes only those whose own
// snapshot is complete. With DryRun it only lists them.
func Prune(ctx context.Context, e Engine, sc Sidecars, r Reporter, o PruneOptions) (*PruneResult, error) {
	vols, err := e.PruneCandidates(ctx, o.All, o.Labels, o.NotLabels)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{Candidates: []string{}}
	for _, v := range vols {
		res.Candidates = append(res.Candidates, v.Name)
	}
	if o.DryRun || len(vols) == 0 {
		return res, nil
	}
	ok, err := o.Confirm(res.Candidates)
	if err != nil {
		return res, err
	}
	if !ok {
		return res, ErrNotConfirmed
	}
	job, err := sc.Job(ctx, e) // the sidecar image only when there is work
	if err != nil {
		return res, err
	}
	job.Lines = o.Lines
	quiesce := consistent(ctx, e, r.Event, func(v sidecar.Volume, err error) { r.Warn(v.Name, err) })
	batch, err := e.BackupVolumes(ctx, job, sidecar.JobsFor(vols), o.Host, []string{retention.PrePruneTag}, quiesce)
	if err != nil {
		return res, err
	}
	for _, rep := range batch.Reports {
		if rep.Error != "" {
			r.Warn(rep.Volume, errors.New("snapshot failed; the volume is kept"))
		}
	}
	saved, _ := batch.Saved(vols, true)
	res.Snapshots = map[string]string{}
	for _, v := range vols {
		rep, ok := saved[v.Name]
		if !ok {
			res.Kept = append(res.Kept, v.Name)
			continue
		}
		res.Snapshots[v.Name] = rep.SnapshotID
		if err := e.RemoveVolume(ctx, v.Name); err != nil {
			r.Warn(v.Name, err)
			res.Kept = append(res.Kept, v.Name)
			continue
		}
		res.Removed = append(res.Removed, v.Name)
		r.Infof("volume %s removed (snapshot %s)", v.Name, shortID(rep.SnapshotID))
	}
	if len(res.Kept) > 0 {
		return res, fmt.Errorf("kept %d volumes whose snapshot failed: %s", len(res.Kept), strings.Join(res.Kept, ", "))
	}
	return res, nil
}
