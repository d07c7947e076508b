package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/spf13/cobra"
)

type volumePruneOptions struct {
	all     bool
	filters []string
	dryRun  bool
	yes     bool
}

func newVolumeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Docker volume commands with a safety net",
		Example: `  lifeboat volume prune --dry-run
  lifeboat volume prune --yes && lifeboat restore latest --volume old_cache`}
	var o volumePruneOptions
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Snapshot the volumes `docker volume prune` would remove, then remove them",
		Long: `Find exactly the volumes that "docker volume prune" would remove with the same
flags on this engine, back each up into a snapshot tagged pre-prune, and
remove only the volumes whose snapshot is complete.

Which volumes those are depends on the engine's API version, as for docker:
since API 1.42 (Docker 23), the local volumes no container uses that are
anonymous, and with --all the named ones too; before 1.42, every local volume
no container uses, named or anonymous, with or without --all. --filter
label=... and label!=... narrow it.

Any of them can be brought back by its old name:
  lifeboat restore latest --volume NAME

On a terminal you are asked to confirm; --yes confirms, --dry-run only lists.`,
		Example: `  lifeboat volume prune --dry-run
  lifeboat volume prune --all --filter label=env=test --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVolumePrune(cmd.Context(), a, o)
		},
	}
	fl := prune.Flags()
	fl.BoolVarP(&o.all, "all", "a", false, "named volumes too, not only anonymous ones")
	fl.StringArrayVar(&o.filters, "filter", nil, "label=KEY[=VALUE] or label!=KEY[=VALUE], as for docker volume prune (repeatable)")
	fl.BoolVarP(&o.dryRun, "dry-run", "n", false, "only list the volumes")
	fl.BoolVarP(&o.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.AddCommand(prune)
	return cmd
}

func runVolumePrune(ctx context.Context, a *app, o volumePruneOptions) error {
	var labels, notLabels []string
	for _, f := range o.filters {
		switch {
		case strings.HasPrefix(f, "label!="):
			notLabels = append(notLabels, strings.TrimPrefix(f, "label!="))
		case strings.HasPrefix(f, "label="):
			labels = append(labels, strings.TrimPrefix(f, "label="))
		default:
			return usageError{fmt.Errorf("--filter %q: only label= and label!= are supported", f)}
		}
	}
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return err
	}
	defer eng.Close()
	vols, err := eng.PruneCandidates(ctx, o.all, labels, notLabels)
	if err != nil {
		return err
	}
	names := make([]string, len(vols))
	for i, v := range vols {
		names[i] = v.Name
	}
	if o.dryRun || len(vols) == 0 {
		a.out.result("volume_prune", map[string]any{"dry_run": o.dryRun, "volumes": names}, func(w io.Writer) {
			if len(vols) == 0 {
				fmt.Fprintln(w, "no volume would be removed")
				return
			}
			fmt.Fprintf(w, "would snapshot and remove %d volumes:\n  %s\n", len(vols), strings.Join(names, "\n  "))
		})
		return nil
	}
	ok, err := a.confirm(fmt.Sprintf("snapshot and remove %d volumes (%s)?", len(vols), strings.Join(names, ", ")), o.yes,
		"volume prune removes volumes (list them first with --dry-run)")
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("nothing removed")
	}
	job, err := a.jobFor(ctx, eng) // the sidecar image only when there is work
	if err != nil {
		return err
	}
	// One sidecar snapshots them all; a volume is removed only after its
	// own complete snapshot was reported.
	consistent := eng.Consistent(ctx, a.report, func(v sidecar.Volume, err error) { a.out.warn(v.Name, err) })
	_, reports, err := eng.BackupVolumes(ctx, job, sidecar.JobsFor(vols), hostOr(a.cfg.Host), []string{"pre-prune"}, consistent)
	if err != nil {
		return err
	}
	for _, r := range reports {
		if r.Error != "" {
			a.out.warn(r.Volume, errors.New("snapshot failed; the volume is kept"))
		}
	}
	saved, _ := savedSnapshots(vols, reports, true)
	var removed, kept []string
	for _, v := range vols {
		id, ok := saved[v.Name]
		if !ok {
			kept = append(kept, v.Name)
			continue
		}
		if err := eng.RemoveVolume(ctx, v.Name); err != nil {
			a.out.warn(v.Name, err)
			kept = append(kept, v.Name)
			continue
		}
		removed = append(removed, v.Name)
		a.out.infof("volume %s removed (snapshot %s)", v.Name, shortID(id))
	}
	a.out.result("volume_prune", map[string]any{"removed": removed, "kept": kept, "snapshots": saved}, func(w io.Writer) {
		fmt.Fprintf(w, "removed %d volumes; restore one with: lifeboat restore latest --volume NAME\n", len(removed))
	})
	if len(kept) > 0 {
		return fmt.Errorf("kept %d volumes whose snapshot failed: %s", len(kept), strings.Join(kept, ", "))
	}
	return nil
}
