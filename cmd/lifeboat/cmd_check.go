package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/spf13/cobra"
)

type checkOptions struct {
	readData bool
	subset   string
	noLock   bool
}

func newCheckCmd(a *app) *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the repository for damage",
		Long: `Check that every snapshot can be restored: that all index files, snapshots and
trees authenticate, and that every chunk they need is indexed in a pack that
exists with the right size. Everything is read from the store itself, never
from the local cache, so an intact copy cannot hide damage there.

--read-data also reads every pack and authenticates every chunk in it;
--read-data-subset 10% reads a random tenth of the packs (or "1/5").
When damage is found, the exit code is 4 and the report names the damaged
objects and the snapshots and files they affect. An object that the store
would not serve even after retries is reported as "could not read", not as
damage; with nothing damaged the exit code is then 5 (run check again).

Packs that a prune marked for deletion are counted apart: a later prune
deletes them; until then restores read a blob from one when a backup that
ran beside the prune used it (the next prune puts those back in the index).
Other packs that no index names are reported as unreferenced: interrupted or
running backups leave them, and prune removes those. Their headers are read;
when one holds data a snapshot needs (its index file was lost or damaged),
check says so: lifeboat repair index indexes it again. Data that is lost for
good is reported with the files it affects, and the report ends with the
repair to run: lifeboat repair packs takes damaged or missing packs out of
the index (keeping their intact blobs), lifeboat repair snapshots --forget
saves what is left of the snapshots that needed them; after both, check
--read-data is clean and the next backup stores again what its source still
has.`,
		Example: `  lifeboat check
  lifeboat check --read-data-subset 5%
  lifeboat check --no-lock --repo /mnt/offsite-copy    # a read-only copy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := runCheck(cmd.Context(), a, o)
			return err
		},
	}
	cmd.Flags().BoolVar(&o.readData, "read-data", false, "read and authenticate all packs")
	cmd.Flags().StringVar(&o.subset, "read-data-subset", "", "read this share of the packs: N% or N/M")
	cmd.Flags().BoolVar(&o.noLock, "no-lock", false, "take no lock (for a read-only repository; a concurrent prune can then make the check report missing data)")
	return cmd
}

// runCheck checks the repository, prints the report and returns it, with
// errDamage or errUnreadable when it is not clean.
func runCheck(ctx context.Context, a *app, o checkOptions) (*checker.Report, error) {
	opts := checker.Options{ReadData: o.readData, Progress: &checker.Progress{}}
	if o.subset != "" {
		v, err := checker.ParseSubset(o.subset)
		if err != nil {
			return nil, usageError{fmt.Errorf("--read-data-subset %w", err)}
		}
		opts.ReadData, opts.Subset = true, v
	}
	mode := sharedLock
	if o.noLock {
		mode = withoutLock
	}
	repo, done, err := a.openStore(ctx, mode, false)
	if err != nil {
		return nil, noLockHint(err)
	}
	defer done()
	p := opts.Progress
	stop := a.startProgress("check", func() progressStatus {
		return progressStatus{FilesDone: p.PacksRead.Load(), TotalFiles: p.PacksTotal.Load()}
	})
	rep, err := checker.Check(ctx, repo, opts)
	stop()
	if err != nil {
		return nil, err
	}
	a.out.result("check", rep, func(w io.Writer) {
		fmt.Fprintf(w, "%s, %s, %s in %s", human.Count(rep.Snapshots, "snapshot", "snapshots"), human.Count(rep.Trees, "tree", "trees"),
			human.Count(rep.Blobs, "blob", "blobs"), human.Count(rep.Packs, "pack", "packs"))
		if opts.ReadData {
			fmt.Fprintf(w, ", %d packs read", rep.PacksRead)
		}
		fmt.Fprintln(w)
		if rep.MarkedPacks > 0 {
			fmt.Fprintf(w, "%s marked for deletion by prune", human.Count(rep.MarkedPacks, "pack", "packs"))
			if rep.NeededMarked > 0 {
				fmt.Fprintf(w, "; %s that snapshots need, which the next prune puts back in the index", human.Count(rep.NeededMarked, "holds a blob", "hold blobs"))
			}
			fmt.Fprintln(w)
		}
		if n := len(rep.UnreferencedPacks); n > 0 {
			fmt.Fprintf(w, "%s named by no index (from interrupted or running backups unless reported below)\n", human.Count(n, "pack", "packs"))
		}
		for _, pr := range rep.Problems {
			fmt.Fprintf(w, "error: %s\n", pr)
		}
		for _, pr := range rep.Unreadable {
			fmt.Fprintf(w, "could not read: %s\n", pr)
		}
		for _, af := range rep.Affected {
			fmt.Fprintf(w, "snapshot %s is damaged; affected:\n", af.Snapshot[:8])
			for _, p := range af.Paths {
				fmt.Fprintf(w, "  %s\n", p)
			}
		}
		if rep.OK() {
			fmt.Fprintln(w, "no errors found")
		}
		if next := checkNext(rep); next != "" {
			fmt.Fprintf(w, "to mend it: %s\n", next)
		}
	})
	switch {
	case rep.Damaged():
		return rep, fmt.Errorf("%s found: %w", human.Count(len(rep.Problems), "problem", "problems"), errDamage)
	case !rep.OK():
		return rep, fmt.Errorf("%s could not be read (not known to be damaged; run check again): %w",
			human.Count(len(rep.Unreadable), "object", "objects"), errUnreadable)
	}
	return rep, nil
}

// checkNext is the repair sequence for what a check found, or "".
func checkNext(rep *checker.Report) string {
	switch {
	case len(rep.DamagedPacks) > 0 && len(rep.DamagedPacks) <= 8:
		return "lifeboat repair packs " + strings.Join(rep.DamagedPacks, " ") + ", then lifeboat repair snapshots --forget; then back up again"
	case len(rep.DamagedPacks) > 0:
		return "lifeboat repair packs, then lifeboat repair snapshots --forget; then back up again"
	case len(rep.Affected) > 0:
		return "lifeboat repair snapshots --forget; then back up again"
	}
	return ""
}
