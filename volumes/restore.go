package volumes

import (
	"context"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// RestoreOptions say which snapshot goes into which volume.
type RestoreOptions struct {
	Snapshot *repository.Snapshot
	Volume   string
	// Force makes a volume that is not empty equal to the snapshot (what
	// the snapshot does not hold is removed); without it such a volume is
	// refused.
	Force bool
	// Base, with Force, is a snapshot the volume holds: only what differs
	// from it is written (a delta restore, see restore.Options.Base).
	Base        *repository.Snapshot
	Verify      bool
	KeepDamaged bool              // see restore.Options.KeepDamaged
	Lines       func(line []byte) // the sidecar's output, for a display
}

// Validate refuses a volume name that is not well formed. Restore calls it
// first; a caller may call it before it opens the repository.
func (o RestoreOptions) Validate() error { return sidecar.ValidateVolumeName(o.Volume) }

// Restore restores a snapshot into a named volume with a sidecar. A volume
// that does not exist is created with the labels, driver and options the
// snapshot recorded. A restore that left out damaged paths returns its
// summary (which lists them) with an error wrapping restore.ErrIncomplete.
func Restore(ctx context.Context, e Engine, sc Sidecars, r Reporter, o RestoreOptions) (*messages.RestoreSummary, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	release, err := holdWriters(ctx, e, r, []string{o.Volume})
	defer release(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", o.Volume, err)
	}
	job, err := sc.Job(ctx, e)
	if err != nil {
		return nil, err
	}
	job.Lines = o.Lines
	id := o.Snapshot.ID.String()
	if err := ensureVolume(ctx, e, o.Volume, o.Snapshot.Volume, id); err != nil {
		return nil, err
	}
	r.Infof("restoring snapshot %s into volume %s", o.Snapshot.ID.Short(), o.Volume)
	a := sidecar.RestoreArgs{Snapshot: id, Volume: o.Volume, Overwrite: o.Force, Verify: o.Verify, KeepDamaged: o.KeepDamaged}
	if o.Base != nil {
		a.Base = o.Base.ID.String()
	}
	res, err := e.RestoreVolume(ctx, job, a)
	if err := restoreFailed(res, err, o.Volume); err != nil {
		return res.Summary, err
	}
	r.Infof("volume %s restored from snapshot %s", o.Volume, o.Snapshot.ID.Short())
	return res.Summary, nil
}

// ensureVolume creates the volume unless it exists.
func ensureVolume(ctx context.Context, e VolumeStore, name string, info *repository.VolumeInfo, snapshotID string) error {
	exists, err := e.VolumeExists(ctx, name)
	if err != nil || exists {
		return err
	}
	return e.CreateVolume(ctx, name, info, snapshotID)
}

// restoreFailed turns what a restore sidecar reported into an error, or nil
// when it restored the snapshot.
func restoreFailed(res sidecar.Restored, err error, volume string) error {
	switch {
	case err != nil:
		return err
	case res.NotEmpty():
		return fmt.Errorf("volume %s exists and is not empty (use --force to make it equal to the snapshot)", volume)
	case res.Code == messages.ExitIncomplete && res.Summary != nil:
		return fmt.Errorf("restore into volume %s: %d paths left out: %w", volume, res.Summary.Result.DamagedCount, restore.ErrIncomplete)
	case res.Code != messages.ExitOK && res.Failure != nil:
		return fmt.Errorf("restore into volume %s: %s", volume, res.Failure.Message)
	case res.Code != messages.ExitOK || res.Summary == nil:
		return fmt.Errorf("restore into volume %s: %s", volume, sidecarExit(res.Code))
	}
	return nil
}
