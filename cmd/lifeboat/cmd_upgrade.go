package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/volumes"
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
		Long: `Upgrade a container's image without risking its data: its volumes are
snapshotted and restored into fresh volumes while it runs; then it is
stopped, a second snapshot takes what it wrote meanwhile, and only that is
written into the fresh volumes (a delta restore), so the downtime grows with
what changed, not with the volumes' size. A new container with the same
configuration (command, environment, ports, networks, labels, restart
policy, health check) but the new image and the fresh volumes takes its name
and starts. The old container is kept, stopped and renamed NAME-lifeboat-old,
with its volumes untouched. The downtime (from the stop to the new
container's start) and the bytes written after the stop are reported.

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
			return runRollback(cmd.Context(), a, args[0])
		},
	}
}

func runUpgrade(ctx context.Context, a *app, name string, o upgradeOptions) error {
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return err
	}
	defer eng.Close()
	lines := &sidecarLines{a: a}
	up, err := volumes.Upgrade(ctx, eng, a.sidecars(), reporter{a}, volumes.UpgradeOptions{Container: name, Image: o.image,
		WaitHealthy: o.waitHealthy, Settle: o.settle, Host: a.snapshotHost(ctx), Lines: lines.line})
	if err != nil {
		return err
	}
	app := up.App
	a.out.report("upgrade", results.Upgrade{Container: app.Name, Image: o.image, OldContainer: up.Old,
		Volumes: up.Volumes, Copies: up.Copies, DowntimeSeconds: up.Downtime.Seconds()}, func(w io.Writer) {
		fmt.Fprintf(w, "%s now runs %s on fresh copies of its volumes; the old container is %s (stopped), its volumes untouched\n",
			app.Name, o.image, up.Old)
		if up.Downtime > 0 {
			var delta int64
			for _, c := range up.Copies {
				delta += c.DeltaBytes
			}
			fmt.Fprintf(w, "downtime %s (copied while it ran; %s written after the stop)\n", up.Downtime.Round(10*time.Millisecond), human.Bytes(delta))
		}
		fmt.Fprintf(w, "switch back with: lifeboat rollback %s\n", app.Name)
		if app.Compose {
			fmt.Fprintln(w, "this container belongs to a compose project: the next `docker compose up` recreates it from the compose file's image and volumes; update the file to keep the upgrade")
		}
	})
	if !o.cleanup {
		return nil
	}
	ok, err := a.confirm(fmt.Sprintf("remove %s and its volumes %s?", up.Old, strings.Join(app.VolumeNames(), ", ")), o.yes,
		"--cleanup removes the old container and volumes")
	if err != nil || !ok {
		return err
	}
	return volumes.Cleanup(ctx, eng, reporter{a}, app)
}

func runRollback(ctx context.Context, a *app, name string) error {
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return err
	}
	defer eng.Close()
	kept, err := volumes.Rollback(ctx, eng, reporter{a}, name)
	if err != nil {
		return err
	}
	a.out.report("rollback", results.Rollback{Container: name, KeptVolumes: kept}, func(w io.Writer) {
		fmt.Fprintf(w, "%s runs its previous image on its previous volumes again\n", name)
		if len(kept) > 0 {
			fmt.Fprintf(w, "what it wrote since the upgrade is only on the kept volumes: %s\n", strings.Join(kept, ", "))
		}
	})
	return nil
}
