package volumes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// BackupOptions select the volumes and say how their snapshots are made.
type BackupOptions struct {
	Selection sidecar.Selection
	// VolumesFrom attaches the volumes of this container to the sidecar
	// with VolumesFrom (read-only), at that container's paths.
	VolumesFrom string
	Host        string   // recorded in the snapshots
	Tags        []string // likewise
	// Lines receives the sidecar's output lines (progress, warnings), for
	// a display. Nil: none.
	Lines func(line []byte)
}

// BackupResult is what a volume backup did.
type BackupResult struct {
	Reports []sidecar.VolumeReport // one per volume the sidecar reported on
	Total   repository.Summary     // the saved snapshots' summaries, summed
}

// Backup backs the selected volumes up with one sidecar, one snapshot
// each, every volume's users quiesced by their labels just while it is
// copied. A volume that does not exist is reported before anything is
// built. The error says which volumes were not saved completely; it wraps
// snapshot.ErrIncomplete when every one of them was saved with entries left
// out, and repository.ErrLocked when the repository was locked.
func Backup(ctx context.Context, e Engine, sc Sidecars, r Reporter, o BackupOptions) (*BackupResult, error) {
	res := &BackupResult{}
	vols, err := e.Volumes(ctx, o.Selection)
	if err != nil {
		return res, err
	}
	if len(vols) == 0 {
		return res, fmt.Errorf("no volume matches the selection on %s", e.Host())
	}
	var from map[string]string // volume -> its path in the VolumesFrom container
	if o.VolumesFrom != "" {
		if from, err = e.VolumeMounts(ctx, o.VolumesFrom); err != nil {
			return res, err
		}
	}
	job, err := sc.Job(ctx, e)
	if err != nil {
		return res, err
	}
	job.Lines = o.Lines
	jobs := make([]sidecar.VolumeJob, len(vols))
	for i, v := range vols {
		jobs[i] = sidecar.VolumeJob{Volume: v}
		if dest, ok := from[v.Name]; ok {
			jobs[i].From, jobs[i].Path = o.VolumesFrom, dest
		}
	}
	var failed []string
	quiesce := consistent(ctx, e, r.Event, func(v sidecar.Volume, err error) {
		r.Warn(v.Name, err)
		failed = append(failed, v.Name+" (not backed up)")
	})
	prepare := func(v sidecar.Volume) (bool, func()) {
		r.Infof("backing up volume %s", v.Name)
		return quiesce(v)
	}
	batch, err := e.BackupVolumes(ctx, job, jobs, o.Host, o.Tags, prepare)
	if err != nil {
		return res, err
	}
	res.Reports = batch.Reports
	incomplete := 0
	reported := map[string]bool{}
	for _, rep := range batch.Reports {
		reported[rep.Volume] = true
		if rep.Error != "" {
			r.Warn(rep.Volume, errors.New(rep.Error))
			failed = append(failed, rep.Volume)
			continue
		}
		add(&res.Total, rep.Summary)
		r.Infof("volume %s: snapshot %s saved: %s", rep.Volume, shortID(rep.SnapshotID), describe(rep.Summary))
		if rep.Incomplete {
			failed = append(failed, rep.Volume+" (incomplete)")
			incomplete++
		}
	}
	if batch.Code != messages.ExitOK && batch.Code != messages.ExitIncomplete && len(failed) == 0 {
		return res, sidecarFailed(batch, vols, reported)
	}
	switch {
	case len(failed) > 0 && incomplete == len(failed):
		return res, fmt.Errorf("volumes saved with entries left out: %s: %w", strings.Join(failed, ", "), snapshot.ErrIncomplete)
	case len(failed) > 0:
		return res, fmt.Errorf("volumes not backed up completely: %s", strings.Join(failed, ", "))
	}
	return res, nil
}

// sidecarFailed says which volumes a batch that ended badly did not reach
// and why; a locked repository keeps its meaning, for a caller that waits
// and runs again.
func sidecarFailed(b sidecar.Batch, vols []sidecar.Volume, reported map[string]bool) error {
	msg := sidecarExit(b.Code)
	if b.Failure != nil {
		msg = b.Failure.Message
	}
	var unfinished []string
	for _, v := range vols {
		if !reported[v.Name] {
			unfinished = append(unfinished, v.Name)
		}
	}
	what := "backup of volumes " + strings.Join(unfinished, ", ")
	if b.Code == messages.ExitLocked {
		return fmt.Errorf("%s: %s: %w", what, msg, repository.ErrLocked)
	}
	return fmt.Errorf("%s: %s", what, msg)
}

func add(total *repository.Summary, s repository.Summary) {
	total.BytesRead += s.BytesRead
	total.BytesAdded += s.BytesAdded
	total.StoredAdded += s.StoredAdded
	total.TotalFiles += s.TotalFiles
	total.TotalBytes += s.TotalBytes
	total.Errors += s.Errors
	total.ChangedWhileRead += s.ChangedWhileRead
}
