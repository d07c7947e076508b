package main

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/repository/repair"
	"github.com/spf13/cobra"
)

func newRepairPacksCmd(a *app) *cobra.Command {
	var o repair.PacksOptions
	cmd := &cobra.Command{
		Use:   "packs [PACK...]",
		Short: "Take damaged packs out of the index, keeping their intact blobs",
		Long: `Read packs (those named, as check --read-data lists them, or every indexed
pack) and take each damaged one out of the index: one that is missing, is
truncated, does not match its name, or holds a blob that fails
authentication. Its intact blobs are stored again in new packs; the damaged
blobs leave the index, so the next backup of a source that still has their
data stores them again, and lifeboat repair snapshots saves what is left of
the snapshots that need them.

The damaged pack's bytes are kept in the repository as damaged/<id>: lifeboat
never reads or deletes them, a later tool may recover more from them. It
takes the exclusive lock, like prune; an interrupted run changes nothing that
the next run cannot finish.`,
		Example: `  lifeboat check --read-data                # names the damaged packs and this sequence
  lifeboat repair packs 55768c72a58705946e9b1f0aa1e19c00f76a59d48329666a249bfd9f33a31d60
  lifeboat repair packs --dry-run           # read every indexed pack, change nothing
  lifeboat repair snapshots --forget
  lifeboat check --read-data`,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, s := range args {
				id, err := pack.ParseID(s)
				if err != nil {
					return usageError{fmt.Errorf("pack %q: give the full 64-digit id that check names", s)}
				}
				o.Packs = append(o.Packs, id)
			}
			return runRepairPacks(cmd.Context(), a, o)
		},
	}
	cmd.Flags().BoolVarP(&o.DryRun, "dry-run", "n", false, "only report which packs are damaged")
	return cmd
}

func runRepairPacks(ctx context.Context, a *app, o repair.PacksOptions) error {
	repo, done, err := a.openStore(ctx, withoutLock, false) // repair.Packs locks exclusively
	if err != nil {
		return err
	}
	defer done()
	var read, total atomic.Int64 // set by the repair, read by the display
	o.Progress = func(r, t int) { read.Store(int64(r)); total.Store(int64(t)) }
	stop := a.startProgress("repair packs", func() progressStatus {
		return progressStatus{FilesDone: read.Load(), TotalFiles: total.Load()}
	})
	rep, err := repair.Packs(ctx, repo, o)
	stop()
	if err != nil {
		return err
	}
	a.out.report("repair_packs", results.DryRun[*repair.PacksReport]{DryRun: o.DryRun, Report: rep}, func(w io.Writer) {
		for _, d := range rep.Damaged {
			how := "damaged"
			if d.Missing {
				how = "missing"
			}
			fmt.Fprintf(w, "pack %s (%s): %s lost, %d intact stored again\n", d.Pack.Short(), how, human.Count(d.Lost, "blob", "blobs"), d.Salvaged)
		}
		fmt.Fprintf(w, "%s read, %d damaged\n", human.Count(rep.PacksRead, "pack", "packs"), len(rep.Damaged))
		switch {
		case len(rep.Damaged) == 0:
			fmt.Fprintln(w, "no damaged pack: nothing to do")
		case o.DryRun:
			fmt.Fprintln(w, "dry run: nothing written")
		default:
			fmt.Fprintf(w, "kept %s as damaged/<id>; the index no longer names them\n", human.Count(rep.SetAside, "damaged pack", "damaged packs"))
			if len(rep.LostBlobs) > 0 {
				fmt.Fprintln(w, "next: lifeboat repair snapshots --forget, then back up again (what the source still has is stored again)")
			}
		}
	})
	return nil
}
