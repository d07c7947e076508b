package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/volumes"
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
	for _, l := range append(slices.Clone(labels), notLabels...) {
		if err := volumes.ValidateLabelSelector(l); err != nil {
			return usageError{err}
		}
	}
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return err
	}
	defer eng.Close()
	confirm := func(names []string) (bool, error) {
		return a.confirm(fmt.Sprintf("snapshot and remove %d volumes (%s)?", len(names), strings.Join(names, ", ")), o.yes,
			"volume prune removes volumes (list them first with --dry-run)")
	}
	lines := &sidecarLines{a: a}
	res, err := volumes.Prune(ctx, eng, a.sidecars(), reporter{a}, volumes.PruneOptions{All: o.all, Labels: labels, NotLabels: notLabels,
		DryRun: o.dryRun, Host: a.snapshotHost(ctx), Confirm: confirm, Lines: lines.line})
	if res == nil {
		return err
	}
	if o.dryRun || len(res.Candidates) == 0 {
		a.out.report("volume_prune", results.VolumePrune{DryRun: o.dryRun, Volumes: res.Candidates}, func(w io.Writer) {
			if len(res.Candidates) == 0 {
				fmt.Fprintln(w, "no volume would be removed")
				return
			}
			fmt.Fprintf(w, "would snapshot and remove %s:\n  %s\n", human.Count(len(res.Candidates), "volume", "volumes"),
				strings.Join(res.Candidates, "\n  "))
		})
		return err
	}
	if res.Snapshots != nil {
		a.out.report("volume_prune", res, func(w io.Writer) {
			fmt.Fprintf(w, "removed %s; restore one with: lifeboat restore latest --volume NAME\n", human.Count(len(res.Removed), "volume", "volumes"))
		})
	}
	return err
}
