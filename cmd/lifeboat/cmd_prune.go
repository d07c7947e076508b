package main

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
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

Prune runs beside backups, restores and checks on any number of hosts: it
takes a prune lock, which only another prune or an exclusive lock keeps out,
and nobody waits for it. So it deletes in two phases. A prune marks the packs
no snapshot needs and takes them out of the index, then lists the locks held
at that moment. A later prune deletes them once the mark is older than
--grace (1h) and every run that held one of those locks has ended: a backup
that started before the mark and used a marked pack has then published its
snapshot, and the packs it needs are put back in the index instead of being
deleted. Until then marked packs still take space, and restores and checks
still read them. Run prune regularly (the daemon's prune: schedule) and each
run deletes what the one before marked.

--exclusive is the one-shot way: it takes the exclusive lock (no backup may
start meanwhile, exit code 11 for those that try) and deletes at once what it
finds unneeded and everything earlier prunes marked.

Every step keeps the repository valid, so an interrupted prune is finished
by the next one. --dry-run changes nothing and prints the plan, one line per
pack (the first 40; --json lists all). A pack that no index names and no
mark lists is marked only when its header shows that no snapshot needs what
it holds; one that holds needed data (its index file was lost or damaged)
is indexed again, and one whose header cannot be read is kept. Prune stops
when a snapshot or one of its trees cannot be read: forget a damaged
snapshot, or save what is left of it with lifeboat repair snapshots.`,
		Example: `  lifeboat forget --keep-daily 7 && lifeboat prune
  lifeboat prune --dry-run --json
  lifeboat prune --exclusive      # delete now; backups wait until it ends`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if u := o.RepackUnused; u <= 0 || u > 1 || math.IsNaN(u) {
				return usageError{fmt.Errorf("--repack-unused must be more than 0 and at most 1 (a share: 0.5 is half), not %v", u)}
			}
			if o.Grace < prune.MinGrace {
				return usageError{fmt.Errorf("--grace must be at least %s, not %s (--exclusive deletes at once, with backups kept out)", prune.MinGrace, o.Grace)}
			}
			_, err := runPrune(cmd.Context(), a, o)
			return err
		},
	}
	cmd.Flags().Float64Var(&o.RepackUnused, "repack-unused", prune.DefaultRepackUnused, "rewrite packs with at least this share of unused bytes (0 < share <= 1)")
	cmd.Flags().BoolVarP(&o.DryRun, "dry-run", "n", false, "change nothing; print the plan: each pack that would be marked, deleted or indexed again, and why")
	cmd.Flags().BoolVar(&o.Exclusive, "exclusive", false, "take the exclusive lock and delete at once (backups cannot start meanwhile)")
	cmd.Flags().DurationVar(&o.Grace, "grace", prune.DefaultGrace, "how long marked packs stay before a later prune may delete them (runs that could use them are waited for anyway)")
	return cmd
}

func runPrune(ctx context.Context, a *app, o prune.Options) (*prune.Report, error) {
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return nil, err
	}
	defer done()
	rep, err := prune.Run(ctx, repo, o)
	if err != nil {
		return nil, err
	}
	a.out.report("prune", results.DryRun[*prune.Report]{DryRun: o.DryRun, Report: rep}, func(w io.Writer) {
		would := ""
		if o.DryRun {
			would = "would be "
		}
		temps := ""
		if rep.TempFiles > 0 {
			temps = fmt.Sprintf(" and %d temporary files left by killed backups", rep.TempFiles)
		}
		fmt.Fprintf(w, "%d packs, %d blobs in use: %s %smarked for deletion (%d unused, %d repacked, %d unreferenced; %s)\n",
			rep.Packs, rep.BlobsUsed, human.Count(rep.PacksMarked, "pack", "packs"), would, rep.PacksMarked-rep.PacksRepacked-rep.Unreferenced,
			rep.PacksRepacked, rep.Unreferenced, human.Bytes(rep.BytesMarked))
		fmt.Fprintf(w, "%s%s %sdeleted, %s freed\n", human.Count(rep.PacksDeleted, "pack", "packs"), temps, would, human.Bytes(rep.BytesFreed))
		if rep.MarksWaiting > 0 {
			fmt.Fprintf(w, "%s not due yet, waiting for %s\n", human.Count(rep.MarksWaiting, "earlier mark is", "earlier marks are"), rep.WaitingFor)
		}
		if rep.TakenBack > 0 {
			fmt.Fprintf(w, "taken back: %s that a backup running beside an earlier prune used\n", human.Count(rep.TakenBack, "marked pack", "marked packs"))
		}
		if rep.Reindexed > rep.TakenBack || rep.DamagedIndexFiles > 0 {
			fmt.Fprintf(w, "indexed again: %s that no readable index named but snapshots need (%s replaced)\n",
				human.Count(rep.Reindexed-rep.TakenBack, "pack", "packs"), human.Count(rep.DamagedIndexFiles, "damaged index file", "damaged index files"))
		}
		if rep.Unidentified > 0 {
			fmt.Fprintf(w, "kept %s whose header cannot be read (see lifeboat check)\n", human.Count(rep.Unidentified, "pack", "packs"))
		}
		printPlan(w, rep.Actions)
	})
	return rep, nil
}

// planLines is how many of a dry run's actions the text output lists.
const planLines = 40

// printPlan lists a dry run's actions, one pack a line.
func printPlan(w io.Writer, actions []prune.Action) {
	if len(actions) == 0 {
		return
	}
	fmt.Fprintln(w, "the plan:")
	for i, a := range actions {
		if i == planLines {
			fmt.Fprintf(w, "  and %d more (--json lists every one)\n", len(actions)-i)
			break
		}
		fmt.Fprintf(w, "  %-6s %s %9s  %s\n", a.Do, a.Pack.Short(), human.Bytes(a.Size), a.Why)
	}
}
