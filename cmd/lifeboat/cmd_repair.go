package main

import (
	"context"
	"fmt"
	"io"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/repository/repair"
	"github.com/spf13/cobra"
)

func newRepairCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Mend a damaged repository: rebuild the index, save what is left of snapshots",
		Long: `Mend what lifeboat check reports, in this order:

  lifeboat repair index       when check says a pack holds needed data that no
                              index names (an index file was lost or damaged)
  lifeboat repair packs       when check --read-data finds a damaged or missing
                              pack: its intact blobs are stored again, the
                              damaged ones leave the index
  lifeboat repair snapshots   when data is lost for good: each snapshot that
                              needs it is saved again without the lost files

After repair packs and repair snapshots --forget, check --read-data is clean,
and the next backup stores again whatever its source still has.

None deletes data for good: repair index only replaces index files, repair
packs keeps each damaged pack as damaged/<id> in the repository, and repair
snapshots keeps the damaged originals unless --forget is given.

` + exitCodeHelp,
		Example: `  lifeboat check --read-data
  lifeboat repair index
  lifeboat repair packs
  lifeboat repair snapshots --dry-run
  lifeboat repair snapshots --forget`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRepairIndexCmd(a), newRepairPacksCmd(a), newRepairSnapshotsCmd(a))
	return cmd
}

func newRepairIndexCmd(a *app) *cobra.Command {
	var o repair.IndexOptions
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Rebuild the index from the pack headers",
		Long: `Rebuild the index: every stored pack whose header can be read is named by one
new index file that replaces all the old ones. Packs that no readable index
file names get their entries from their sealed headers (only the password
holder can read them); index entries of packs that are gone are dropped.

It takes the repository's exclusive lock, like prune. It writes the new index
file before it removes an old one, so an interrupted run changes nothing that
the next run cannot finish. --read-all-packs reads every pack header, not
only those that no index names.`,
		Example: `  lifeboat repair index
  lifeboat repair index --read-all-packs --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRepairIndex(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.ReadAllPacks, "read-all-packs", false, "read the header of every pack, indexed or not")
	cmd.Flags().BoolVarP(&o.DryRun, "dry-run", "n", false, "only report what would be indexed")
	return cmd
}

func runRepairIndex(ctx context.Context, a *app, o repair.IndexOptions) error {
	repo, done, err := a.openStore(ctx, withoutLock, false) // repair.Index locks exclusively
	if err != nil {
		return err
	}
	defer done()
	rep, err := repair.Index(ctx, repo, o)
	if err != nil {
		return err
	}
	a.out.report("repair_index", results.DryRun[*repair.IndexReport]{DryRun: o.DryRun, Report: rep}, func(w io.Writer) {
		fmt.Fprintf(w, "%s, %s read: %d indexed again, %d with an unreadable header left alone, %d missing dropped\n",
			human.Count(rep.Packs, "pack", "packs"), human.Count(rep.HeadersRead, "header", "headers"), rep.Reindexed, rep.Unidentified, rep.MissingPacks)
		switch {
		case o.DryRun:
			fmt.Fprintln(w, "dry run: nothing written")
		case rep.IndexFilesWritten == 0:
			fmt.Fprintln(w, "the index is complete: nothing to do")
		default:
			fmt.Fprintf(w, "wrote a new index file, replacing %s (%d damaged)\n", human.Count(rep.IndexFilesRemoved, "old one", "old ones"), rep.DamagedIndexFiles)
		}
	})
	return nil
}

func newRepairSnapshotsCmd(a *app) *cobra.Command {
	var o repair.SnapshotsOptions
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "Save what is left of snapshots whose data is lost",
		Long: `Rewrite each snapshot that needs data the repository no longer has: files
whose content is lost are left out, a directory whose listing is lost is kept
empty, and everything else is kept as it was. Each new snapshot is tagged
"repaired", marked incomplete, and lists what it left out (lifeboat snapshots
shows it); its parent is the original.

The originals stay unless --forget is given; prune stops on a snapshot whose
trees are lost, so forget them once the repaired copies are saved. When a
pack that no index names holds the data, nothing is lost: run lifeboat repair
index first (this command refuses until then).`,
		Example: `  lifeboat repair snapshots --dry-run
  lifeboat repair snapshots --forget && lifeboat prune`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRepairSnapshots(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVar(&o.Forget, "forget", false, "remove each damaged original once its repaired copy is saved")
	cmd.Flags().BoolVarP(&o.DryRun, "dry-run", "n", false, "only report what would be left out")
	return cmd
}

func runRepairSnapshots(ctx context.Context, a *app, o repair.SnapshotsOptions) error {
	repo, done, err := a.openStore(ctx, sharedLock, true)
	if err != nil {
		return err
	}
	defer done()
	o.OnLost = func(sn pack.ID, path, why string) {
		a.out.warn(sn.Short()+":"+path, fmt.Errorf("%s", why))
	}
	rep, err := repair.Snapshots(ctx, repo, o)
	if err != nil {
		return err
	}
	a.out.report("repair_snapshots", results.DryRun[*repair.SnapshotsReport]{DryRun: o.DryRun, Report: rep}, func(w io.Writer) {
		for _, r := range rep.Repaired {
			switch {
			case r.New == nil:
				fmt.Fprintf(w, "snapshot %s: would leave out %s\n", r.Original.Short(), human.Count(r.Lost, "path", "paths"))
			default:
				fmt.Fprintf(w, "snapshot %s: saved as %s without %s\n", r.Original.Short(), r.New.Short(), human.Count(r.Lost, "path", "paths"))
			}
		}
		fmt.Fprintf(w, "%s examined, %d repaired, %d forgotten\n", human.Count(rep.Snapshots, "snapshot", "snapshots"), len(rep.Repaired), rep.Forgotten)
		if len(rep.Repaired) == 0 {
			fmt.Fprintln(w, "every blob a snapshot needs is indexed in a stored pack; if check --read-data found damaged packs, run lifeboat repair packs first")
		}
	})
	return nil
}
