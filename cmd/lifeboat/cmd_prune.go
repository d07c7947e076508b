package main

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
	"github.com/spf13/cobra"
)

func newPruneCmd(a *app) *cobra.Command {
	var o prune.Options
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete data that no snapshot needs",
		Long: `Delete the packs that no snapshot needs, and rewrite packs that are mostly
unused (--repack-unused, default 50%) so that their space comes back. In a
local repository it also removes the temporary pack files that killed backups
left behind (once they are an hour old).

Prune takes the repository's exclusive lock: it does not start while a backup,
restore or check holds a lock, and those wait for it (exit code 11 while it
runs). Every step keeps the repository valid, so an interrupted prune is
finished by the next one. --dry-run only reports.

A pack that no index names is deleted only when its header shows that no
snapshot needs what it holds; one that holds needed data (its index file was
lost or damaged) is indexed again, and one whose header cannot be read is
kept. Prune stops when a snapshot or one of its trees cannot be read: forget
a damaged snapshot, or save what is left of it with lifeboat repair snapshots.`,
		Example: `  lifeboat forget --keep-daily 7 && lifeboat prune
  lifeboat prune --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if u := o.RepackUnused; u <= 0 || u > 1 || math.IsNaN(u) {
				return usageError{fmt.Errorf("--repack-unused must be more than 0 and at most 1 (a share: 0.5 is half), not %v", u)}
			}
			return runPrune(cmd.Context(), a, o)
		},
	}
	cmd.Flags().Float64Var(&o.RepackUnused, "repack-unused", prune.DefaultRepackUnused, "rewrite packs with at least this share of unused bytes (0 < share <= 1)")
	cmd.Flags().BoolVarP(&o.DryRun, "dry-run", "n", false, "only report what would be deleted")
	return cmd
}

func runPrune(ctx context.Context, a *app, o prune.Options) error {
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	defer done()
	rep, err := prune.Run(ctx, repo, o)
	if err != nil {
		return err
	}
	a.out.result("prune", map[string]any{"dry_run": o.DryRun, "report": rep}, func(w io.Writer) {
		verb := "freed"
		if o.DryRun {
			verb = "would free"
		}
		temps := ""
		if rep.TempFiles > 0 {
			temps = fmt.Sprintf(", %d temporary files left by killed backups", rep.TempFiles)
		}
		fmt.Fprintf(w, "%d packs: %d deleted (%d unreferenced), %d repacked; %d blobs in use, %d removed%s; %s %s\n",
			rep.Packs, rep.PacksDeleted, rep.Unreferenced, rep.PacksRepacked, rep.BlobsUsed, rep.BlobsRemoved, temps, verb, human.Bytes(rep.BytesFreed))
		if rep.Reindexed > 0 || rep.DamagedIndexFiles > 0 {
			fmt.Fprintf(w, "indexed again: %s that no readable index named but snapshots need (%s replaced)\n",
				human.Count(rep.Reindexed, "pack", "packs"), human.Count(rep.DamagedIndexFiles, "damaged index file", "damaged index files"))
		}
		if rep.Unidentified > 0 {
			fmt.Fprintf(w, "kept %s whose header cannot be read (see lifeboat check)\n", human.Count(rep.Unidentified, "pack", "packs"))
		}
	})
	return nil
}
