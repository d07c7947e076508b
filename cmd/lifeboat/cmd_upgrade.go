package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/spf13/cobra"
)

type upgradeOptions struct {
	image       string
	waitHealthy time.Duration
	settle      time.Duration
	cleanup     bool
	yes         bool
}

func newUpgradeCmd(a *app) *cobra.Command {
	var o upgradeOptions
	cmd := &cobra.Command{
		Use:   "upgrade CONTAINER --image IMAGE",
		Short: "Run a container on a new image, on restored copies of its volumes",
		Long: `Upgrade a container's image without risking its data: the container is
stopped, its volumes are snapshotted and restored into fresh volumes, and a
new container with the same configuration (command, environment, ports,
networks, labels, restart policy, health check) but the new image and the
fresh volumes takes its name and starts. The old container is kept, stopped
and renamed NAME-lifeboat-old, with its volumes untouched.

The new container must become healthy (or, without a health check, keep
running for --wait) within --wait-healthy; otherwise lifeboat rolls back by
itself, says why (exit code or health check output, and the new container's
last log lines) and removes the fresh volumes. "lifeboat rollback NAME" switches back later; --cleanup removes the
old container and volumes after a successful upgrade (asks first, or --yes).
The image must be on the engine already: no registry is consulted.`,
		Example: `  lifeboat upgrade shop-db --image postgres:17 --wait-healthy 2m`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.image == "" {
				return usageError{errors.New("--image is required")}
			}
			return runUpgrade(cmd.Context(), a, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "the new image")
	f.DurationVar(&o.waitHealthy, "wait-healthy", 2*time.Minute, "how long the new container may take to become healthy")
	f.DurationVar(&o.settle, "wait", 10*time.Second, "without a health check: how long the new container must keep running")
	f.BoolVar(&o.cleanup, "cleanup", false, "after success, remove the old container and its volumes")
	f.BoolVarP(&o.yes, "yes", "y", false, "do not ask before --cleanup")
	return cmd
}

func newRollbackCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback CONTAINER",
		Short: "Switch back to the container and volumes an upgrade kept",
		Long: `Undo "lifeboat upgrade": the upgraded container is stopped (with its own stop
signal and timeout) and removed, and the previous container, on its untouched
volumes, takes its name back and starts. The fresh volumes the upgraded
container used are kept and named: what it wrote since the upgrade is only
there.`,
		Example: `  lifeboat upgrade shop-db --image postgres:17
  lifeboat rollback shop-db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := a.engineFor(cmd.Context(), "", a.dockerContext)
			if err != nil {
				return err
			}
			defer eng.Close()
			return rollback(cmd.Context(), a, eng, args[0])
		},
	}
}

func runUpgrade(ctx context.Context, a *app, name string, o upgradeOptions) error {
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return err
	}
	defer eng.Close()
	app, err := eng.InspectApp(ctx, name)
	if err != nil {
		return err
	}
	if !eng.ImageExists(ctx, o.image) {
		return fmt.Errorf("image %s is not on the engine (no registry is consulted: load or build it first)", o.image)
	}
	job, err := a.jobFor(ctx, eng) // the sidecar image once the input is known to be good
	if err != nil {
		return err
	}
	var names []string
	for v := range app.Volumes {
		names = append(names, v)
	}
	vols, err := eng.Volumes(ctx, sidecar.Selection{Names: names})
	if err != nil {
		return err
	}
	// Stopped for a consistent copy; started again whatever goes wrong
	// until the new container has taken over.
	if app.Running {
		a.out.infof("stopping %s", app.Name)
		if err := eng.Stop(ctx, app.ID); err != nil {
			return fmt.Errorf("stop %s: %w", app.Name, err)
		}
	}
	restartOld := func() {
		if app.Running {
			_ = eng.Start(context.WithoutCancel(ctx), app.ID)
		}
	}
	fresh := map[string]string{}
	if len(vols) > 0 {
		if fresh, err = a.copyVolumes(ctx, eng, job, vols); err != nil {
			restartOld()
			return fmt.Errorf("upgrade of %s stopped before any change: %w", app.Name, err)
		}
	}
	if err := eng.Rename(ctx, app.ID, sidecar.OldName(app.Name)); err != nil {
		restartOld()
		return err
	}
	newID, err := eng.Recreate(ctx, app, o.image, fresh)
	if err == nil {
		a.out.infof("starting %s on %s", app.Name, o.image)
		if err = eng.Start(ctx, newID); err == nil {
			err = eng.WaitHealthy(ctx, newID, o.waitHealthy, o.settle)
		}
	}
	if err != nil {
		bg := context.WithoutCancel(ctx)
		if newID != "" {
			// Its last words, kept before it is removed.
			for _, line := range eng.LastLogs(bg, newID, 10) {
				a.out.warn(app.Name+" on "+o.image, errors.New(line))
			}
			_ = eng.Remove(bg, newID)
		}
		_ = eng.Rename(bg, app.ID, app.Name)
		restartOld()
		// The fresh copies hold nothing the old volumes do not: removed.
		var left []string
		for _, v := range fresh {
			if rerr := eng.RemoveVolume(bg, v); rerr != nil {
				left = append(left, v)
			}
		}
		msg := fmt.Sprintf("upgrade of %s to %s failed, rolled back to the old container", app.Name, o.image)
		if len(left) > 0 {
			sort.Strings(left)
			msg += "; fresh volumes left behind: " + strings.Join(left, ", ")
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	a.out.result("upgrade", map[string]any{"container": app.Name, "image": o.image, "old_container": sidecar.OldName(app.Name),
		"volumes": fresh}, func(w io.Writer) {
		fmt.Fprintf(w, "%s now runs %s on fresh copies of its volumes; the old container is %s (stopped), its volumes untouched\n",
			app.Name, o.image, sidecar.OldName(app.Name))
		fmt.Fprintf(w, "switch back with: lifeboat rollback %s\n", app.Name)
		if app.Compose {
			fmt.Fprintln(w, "this container belongs to a compose project: the next `docker compose up` recreates it from the compose file's image and volumes; update the file to keep the upgrade")
		}
	})
	if o.cleanup {
		return cleanupOld(ctx, a, eng, app, o.yes)
	}
	return nil
}

// copyVolumes snapshots volumes in one sidecar and restores each into a
// fresh volume; it returns old name -> fresh name.
func (a *app) copyVolumes(ctx context.Context, eng *sidecar.Engine, job sidecar.Job, vols []sidecar.Volume) (map[string]string, error) {
	// The container being upgraded is stopped already; other users of its
	// volumes are handled as their labels ask, as in every copy.
	consistent := eng.Consistent(ctx, a.report, func(v sidecar.Volume, err error) { a.out.warn(v.Name, err) })
	code, reports, err := eng.BackupVolumes(ctx, job, sidecar.JobsFor(vols), hostOr(a.cfg.Host), []string{"upgrade"}, consistent)
	if err != nil {
		return nil, err
	}
	snaps, missing := savedSnapshots(vols, reports, false)
	if code != exitOK || len(missing) > 0 {
		return nil, fmt.Errorf("snapshots of the volumes failed (exit %d)", code)
	}
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return nil, err
	}
	defer done()
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	fresh := map[string]string{}
	for _, v := range vols {
		id := snaps[v.Name]
		name := v.Name + "-" + shortID(id)
		sn, err := repository.FindSnapshot(all, id, repository.Filter{})
		if err != nil {
			return nil, err
		}
		if err := eng.CreateVolume(ctx, name, sn.Volume, id); err != nil {
			return nil, err
		}
		job.Lines = nil
		if code, err := eng.RestoreVolume(ctx, job, id, name, false, false); err != nil || code != exitOK {
			return nil, fmt.Errorf("restore of %s into %s failed (exit %d): %v", v.Name, name, code, err)
		}
		fresh[v.Name] = name
		a.out.infof("volume %s copied to %s", v.Name, name)
	}
	return fresh, nil
}

func cleanupOld(ctx context.Context, a *app, eng *sidecar.Engine, app *sidecar.AppContainer, yes bool) error {
	var vols []string
	for v := range app.Volumes {
		vols = append(vols, v)
	}
	ok, err := a.confirm(fmt.Sprintf("remove %s and its volumes %s?", sidecar.OldName(app.Name), strings.Join(vols, ", ")), yes,
		"--cleanup removes the old container and volumes")
	if err != nil || !ok {
		return err
	}
	if err := eng.Remove(ctx, app.ID); err != nil {
		return err
	}
	for _, v := range vols {
		if err := eng.RemoveVolume(ctx, v); err != nil {
			return err
		}
	}
	a.out.infof("removed %s and its volumes", sidecar.OldName(app.Name))
	return nil
}

func rollback(ctx context.Context, a *app, eng *sidecar.Engine, name string) error {
	old, err := eng.InspectApp(ctx, sidecar.OldName(name))
	if err != nil {
		return fmt.Errorf("no previous container of %s to roll back to: %w", name, err)
	}
	var kept []string
	if cur, err := eng.InspectApp(ctx, name); err == nil {
		for v := range cur.Volumes {
			kept = append(kept, v)
		}
		sort.Strings(kept)
		// Stopped as docker stop would (its stop signal, its timeout), so
		// that an application flushes what it wrote, then removed.
		if cur.Running {
			a.out.infof("stopping %s", name)
			if err := eng.Stop(ctx, cur.ID); err != nil {
				return fmt.Errorf("stop %s: %w", name, err)
			}
		}
		if err := eng.Remove(ctx, cur.ID); err != nil {
			return err
		}
	}
	if err := eng.Rename(ctx, old.ID, name); err != nil {
		return err
	}
	if err := eng.Start(ctx, old.ID); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	a.out.result("rollback", map[string]any{"container": name, "kept_volumes": kept}, func(w io.Writer) {
		fmt.Fprintf(w, "%s runs its previous image on its previous volumes again\n", name)
		if len(kept) > 0 {
			fmt.Fprintf(w, "what it wrote since the upgrade is only on the kept volumes: %s\n", strings.Join(kept, ", "))
		}
	})
	return nil
}
