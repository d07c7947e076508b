package main

import (
	"context"
	"fmt"
	"io"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/spf13/cobra"
)

func newUnlockCmd(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "unlock",
		Short: "Remove locks left by processes that are gone",
		Long: `Remove stale locks: those not refreshed for 30 minutes, and those of processes
on this host that no longer run. A live lock is never removed, unless
--remove-all is given (only when you are sure no lifeboat process runs: a
backup whose lock was removed fails rather than save its snapshot).`,
		Example: `  lifeboat unlock
  lifeboat unlock --remove-all   # no lifeboat runs anywhere on this repository`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runUnlock(cmd.Context(), a, all)
		},
	}
	cmd.Flags().BoolVar(&all, "remove-all", false, "remove every lock, live ones included")
	return cmd
}

func runUnlock(ctx context.Context, a *app, all bool) error {
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	defer done()
	n, err := repo.RemoveStaleLocks(ctx, all)
	if err != nil {
		return err
	}
	a.out.report("unlock", results.Unlock{Removed: n}, func(w io.Writer) {
		fmt.Fprintf(w, "removed %d locks\n", n)
	})
	return nil
}
