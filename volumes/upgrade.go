package volumes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/messages"
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
	// Downtime runs from the old container's stop to the new one's start
	// (zero if it was not running).
	Downtime time.Duration
	// Copies tell how each volume was copied.
	Copies []Copied
}

// Upgrade runs a container on a new image on fresh copies of its volumes.
// The volumes are copied while the container runs (snapshot, then restore
// into fresh volumes; users are quiesced by their labels as for a backup);
// then the container is stopped, a second snapshot takes what it wrote
// meanwhile, and only that delta is restored into the copies (restore
// --base), so the downtime grows with what changed, not with the volumes.
// The old container is renamed away and a container like it is created on
// the new image and the fresh volumes. If the new container does not
// become healthy, everything is undone: the new container and the fresh
// volumes are removed, the old one gets its name back and runs again, and
// the error says why (exit code or health check, and its last log lines as
// warnings). The old container and its volumes are never changed.
func Upgrade(ctx context.Context, e Engine, sc Sidecars, r Reporter, o UpgradeOptions) (*Upgraded, error) {
	app, err := e.InspectApp(ctx, o.Container)
	if err != nil {
		return nil, err
	}
	if prev, err := e.InspectApp(ctx, sidecar.OldName(app.Name)); err == nil {
		return nil, fmt.Errorf("%s, kept by an earlier upgrade of %s, still exists: lifeboat rollback %s goes back to it, docker rm %s gives it up (its volumes stay); nothing was changed",
			prev.Name, app.Name, app.Name, prev.Name)
	}
	if !e.ImageExists(ctx, o.Image) {
		return nil, fmt.Errorf("image %s is not on the engine (no registry is consulted: load or build it first)", o.Image)
	}
	vols, err := e.Volumes(ctx, sidecar.Selection{Names: app.VolumeNames()})
	if err != nil {
		return nil, err
	}
	job, err := sc.Job(ctx, e) // once the input is known to be good
	if err != nil {
		return nil, err
	}
	job.Lines = o.Lines
	bg := context.WithoutCancel(ctx)
	c := newCopier(e, e, job, job, r, o.Host, "upgrade")
	c.name = func(v sidecar.Volume, snapshotID string) string { return v.Name + "-" + shortID(snapshotID) }
	quiesce := consistent(ctx, e, r.Event, func(v sidecar.Volume, err error) { r.Warn(v.Name, err) })
	var undo undoLog
	fail := func(err error) (*Upgraded, error) {
		undo.volumes(removeVolumes(bg, e, c.fresh))
		return nil, undo.wrap(fmt.Errorf("upgrade of %s stopped before any change: %w", app.Name, err))
	}
	if app.Running && len(vols) > 0 {
		r.Infof("copying the volumes of %s while it runs", app.Name)
		if _, err := c.live(ctx, vols); err != nil {
			return fail(err)
		}
		if preparedStop(ctx, e, r, vols) {
			r.Infof("copying what the pre-stop hooks of %s wrote", app.Name)
			if _, err := c.live(ctx, vols); err != nil {
				return fail(err)
			}
		}
	}
	// Stopped for a consistent copy, once the last round's sidecars are
	// ready; started again whatever goes wrong until the new container
	// has taken over.
	var stopped time.Time
	var stopErr error
	stop := func() bool {
		if !app.Running || !stopped.IsZero() {
			return true
		}
		// The downtime starts with the stop itself, after any pre-stop
		// hook, while which it still runs.
		err := e.Stop(ctx, app.ID, func(ev messages.Event) {
			if ev.Action == sidecar.ActionStop {
				stopped = time.Now()
			}
			r.Event(ev)
		})
		if stopped.IsZero() {
			stopped = time.Now() // no event: stopped now, to be sure it starts again
		}
		if err != nil {
			stopErr = fmt.Errorf("stop %s: %w", app.Name, err)
			return false
		}
		return true
	}
	restartOld := func() {
		if app.Running && !stopped.IsZero() {
			undo.add("start "+app.Name+" again", e.Start(bg, app.ID))
		}
	}
	if len(vols) == 0 {
		if !stop() {
			return fail(stopErr)
		}
	} else if _, err := c.round(ctx, vols, func(v sidecar.Volume) (bool, func()) {
		if !stop() {
			return false, nil
		}
		return quiesce(v) // the volumes' other users, as their labels ask
	}); err != nil {
		restartOld()
		return fail(cmp.Or(stopErr, err))
	}
	fresh := c.fresh
	old := sidecar.OldName(app.Name)
	if err := e.Rename(ctx, app.ID, old); err != nil {
		restartOld()
		return fail(err)
	}
	newID, err := e.CreateLike(ctx, app, o.Image, fresh, map[string]string{sidecar.LabelUpgradedFrom: app.ID})
	var downtime time.Duration
	if err == nil {
		r.Infof("starting %s on %s", app.Name, o.Image)
		if err = e.Start(ctx, newID); err == nil {
			if !stopped.IsZero() {
				downtime = time.Since(stopped)
			}
			err = e.WaitHealthy(ctx, newID, o.WaitHealthy, o.Settle)
		}
	}
	if err != nil {
		if newID != "" {
			// Its last words, kept before it is removed.
			for _, line := range e.LastLogs(bg, newID, 10) {
				r.Warn(app.Name+" on "+o.Image, errors.New(line))
			}
			undo.add("remove the new container", e.Remove(bg, newID))
		}
		undo.add("give "+old+" its name "+app.Name+" back", e.Rename(bg, app.ID, app.Name))
		restartOld()
		undo.volumes(removeVolumes(bg, e, fresh))
		if len(undo) > 0 {
			return nil, undo.wrap(fmt.Errorf("upgrade of %s to %s failed: %w", app.Name, o.Image, err))
		}
		return nil, fmt.Errorf("upgrade of %s to %s failed, rolled back to the old container: %w", app.Name, o.Image, err)
	}
	return &Upgraded{App: app, Old: old, Volumes: fresh, Downtime: downtime, Copies: c.copies()}, nil
}

// removeVolumes removes the fresh copies (old name -> fresh name) and
// returns those it could not remove, sorted.
func removeVolumes(ctx context.Context, e VolumeStore, fresh map[string]string) []string {
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
			if err := e.Stop(ctx, cur.ID, r.Event); err != nil {
				return nil, fmt.Errorf("stop %s: %w", name, err)
			}
		}
		if err := e.Remove(ctx, cur.ID); err != nil {
			return nil, fmt.Errorf("remove the upgraded %s (it is stopped now; nothing else changed): %w", name, err)
		}
	}
	if err := e.Rename(ctx, old.ID, name); err != nil {
		return kept, fmt.Errorf("the upgraded %s is removed, but %s could not take its name (it keeps its own; rename and start it by hand): %w", name, old.Name, err)
	}
	if err := e.Start(ctx, old.ID); err != nil {
		return kept, fmt.Errorf("the previous container is %s again, but it did not start (start it by hand): %w", name, err)
	}
	return kept, nil
}

// undoLog collects what a workflow could not undo after a failure, so that
// its error says so instead of claiming to have rolled back.
type undoLog []string

// add records a failed undo step.
func (u *undoLog) add(step string, err error) {
	if err != nil {
		*u = append(*u, fmt.Sprintf("%s: %v", step, err))
	}
}

// volumes records fresh volumes that could not be removed.
func (u *undoLog) volumes(left []string) {
	if len(left) > 0 {
		*u = append(*u, "fresh volumes left behind: "+strings.Join(left, ", "))
	}
}

// wrap adds what could not be undone to err.
func (u undoLog) wrap(err error) error {
	if len(u) == 0 {
		return err
	}
	return fmt.Errorf("%w; lifeboat could not undo everything: %s", err, strings.Join(u, "; "))
}
