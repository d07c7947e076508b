package volumes

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// UpgradeOptions say what to run the container on.
type UpgradeOptions struct {
	Container   string
	Image       string
	WaitHealthy time.Duration // for a health check to pass
	Settle      time.Duration // without a health check: how long it must keep running
	Host        string
	Lines       func(line []byte)
}

// Upgraded is a container that runs on its new image.
type Upgraded struct {
	App     *sidecar.AppContainer // as it was before
	Old     string                // the old container's name now
	Volumes map[string]string     // old volume -> the fresh copy the new container uses
}

// Upgrade stops a container, copies its volumes into fresh ones (snapshot,
// then restore; other users of the volumes are quiesced by their labels),
// renames it away and creates a container like it on the new image and the
// fresh volumes. If the new container does not become healthy, everything
// is undone: the new container and the fresh volumes are removed, the old
// one gets its name back and runs again, and the error says why (exit code
// or health check, and its last log lines as warnings). The old container
// and its volumes are never changed.
func Upgrade(ctx context.Context, e Engine, jobFor JobFor, r Reporter, o UpgradeOptions) (*Upgraded, error) {
	app, err := e.InspectApp(ctx, o.Container)
	if err != nil {
		return nil, err
	}
	if !e.ImageExists(ctx, o.Image) {
		return nil, fmt.Errorf("image %s is not on the engine (no registry is consulted: load or build it first)", o.Image)
	}
	vols, err := e.Volumes(ctx, sidecar.Selection{Names: app.VolumeNames()})
	if err != nil {
		return nil, err
	}
	job, err := jobFor(ctx, e) // once the input is known to be good
	if err != nil {
		return nil, err
	}
	job.Lines = o.Lines
	// Stopped for a consistent copy; started again whatever goes wrong
	// until the new container has taken over.
	if app.Running {
		r.Infof("stopping %s", app.Name)
		if err := e.Stop(ctx, app.ID); err != nil {
			return nil, fmt.Errorf("stop %s: %w", app.Name, err)
		}
	}
	bg := context.WithoutCancel(ctx)
	restartOld := func() {
		if app.Running {
			_ = e.Start(bg, app.ID)
		}
	}
	fresh := map[string]string{}
	if len(vols) > 0 {
		if fresh, err = copyVolumes(ctx, e, job, r, vols, o.Host); err != nil {
			removeVolumes(bg, e, fresh)
			restartOld()
			return nil, fmt.Errorf("upgrade of %s stopped before any change: %w", app.Name, err)
		}
	}
	old := sidecar.OldName(app.Name)
	if err := e.Rename(ctx, app.ID, old); err != nil {
		removeVolumes(bg, e, fresh)
		restartOld()
		return nil, err
	}
	newID, err := e.Recreate(ctx, app, o.Image, fresh)
	if err == nil {
		r.Infof("starting %s on %s", app.Name, o.Image)
		if err = e.Start(ctx, newID); err == nil {
			err = e.WaitHealthy(ctx, newID, o.WaitHealthy, o.Settle)
		}
	}
	if err != nil {
		if newID != "" {
			// Its last words, kept before it is removed.
			for _, line := range e.LastLogs(bg, newID, 10) {
				r.Warn(app.Name+" on "+o.Image, errors.New(line))
			}
			_ = e.Remove(bg, newID)
		}
		_ = e.Rename(bg, app.ID, app.Name)
		restartOld()
		msg := fmt.Sprintf("upgrade of %s to %s failed, rolled back to the old container", app.Name, o.Image)
		if left := removeVolumes(bg, e, fresh); len(left) > 0 {
			msg += "; fresh volumes left behind: " + strings.Join(left, ", ")
		}
		return nil, fmt.Errorf("%s: %w", msg, err)
	}
	return &Upgraded{App: app, Old: old, Volumes: fresh}, nil
}

// copyVolumes snapshots volumes in one sidecar and restores each into a
// fresh volume named after it and its snapshot; it returns old name ->
// fresh name, also for what it made before a failure.
func copyVolumes(ctx context.Context, e Engine, job sidecar.Job, r Reporter, vols []sidecar.Volume, host string) (map[string]string, error) {
	fresh := map[string]string{}
	quiesce := consistent(ctx, e, r, func(v sidecar.Volume, err error) { r.Warn(v.Name, err) })
	batch, err := e.BackupVolumes(ctx, job, sidecar.JobsFor(vols), host, []string{"upgrade"}, quiesce)
	if err != nil {
		return fresh, err
	}
	saved, missing := batch.Saved(vols, false)
	if batch.Code != sidecar.ExitOK || len(missing) > 0 {
		return fresh, fmt.Errorf("snapshots of the volumes failed (exit %d)", batch.Code)
	}
	for _, v := range vols {
		rep := saved[v.Name]
		name := v.Name + "-" + shortID(rep.SnapshotID)
		if err := e.CreateVolume(ctx, name, &rep.Info, rep.SnapshotID); err != nil {
			return fresh, err
		}
		fresh[v.Name] = name
		res, err := e.RestoreVolume(ctx, job, sidecar.RestoreArgs{Snapshot: rep.SnapshotID, Volume: name})
		if err := restoreFailed(res, err, name); err != nil {
			return fresh, fmt.Errorf("copy of %s: %w", v.Name, err)
		}
		r.Infof("volume %s copied to %s", v.Name, name)
	}
	return fresh, nil
}

// removeVolumes removes the fresh copies (old name -> fresh name) and
// returns those it could not remove, sorted.
func removeVolumes(ctx context.Context, e Engine, fresh map[string]string) []string {
	var left []string
	for _, v := range fresh {
		if err := e.RemoveVolume(ctx, v); err != nil {
			left = append(left, v)
		}
	}
	sort.Strings(left)
	return left
}

// Cleanup removes the old container an upgrade kept, and its volumes.
func Cleanup(ctx context.Context, e Engine, r Reporter, app *sidecar.AppContainer) error {
	if err := e.Remove(ctx, app.ID); err != nil {
		return err
	}
	for _, v := range app.VolumeNames() {
		if err := e.RemoveVolume(ctx, v); err != nil {
			return err
		}
	}
	r.Infof("removed %s and its volumes", sidecar.OldName(app.Name))
	return nil
}

// Rollback undoes an upgrade of the container name: the upgraded container
// is stopped as docker stop would (its stop signal and timeout, so that the
// application flushes what it wrote) and removed, and the previous one, on
// its untouched volumes, takes its name back and starts. It returns the
// fresh volumes the upgraded container used, which are kept: what it
// wrote since the upgrade is only there.
func Rollback(ctx context.Context, e Engine, r Reporter, name string) (kept []string, err error) {
	old, err := e.InspectApp(ctx, sidecar.OldName(name))
	if err != nil {
		return nil, fmt.Errorf("no previous container of %s to roll back to: %w", name, err)
	}
	if cur, err := e.InspectApp(ctx, name); err == nil {
		kept = cur.VolumeNames()
		if cur.Running {
			r.Infof("stopping %s", name)
			if err := e.Stop(ctx, cur.ID); err != nil {
				return nil, fmt.Errorf("stop %s: %w", name, err)
			}
		}
		if err := e.Remove(ctx, cur.ID); err != nil {
			return nil, err
		}
	}
	if err := e.Rename(ctx, old.ID, name); err != nil {
		return kept, err
	}
	if err := e.Start(ctx, old.ID); err != nil {
		return kept, fmt.Errorf("start %s: %w", name, err)
	}
	return kept, nil
}
