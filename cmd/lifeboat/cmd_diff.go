package main

import (
	"context"
	"fmt"
	"io"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/spf13/cobra"
)

func newDiffCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "diff SNAPSHOT_A SNAPSHOT_B",
		Short: "Show what changed between two snapshots",
		Long: `Show the differences between two snapshots, one path a line:

  +  added in SNAPSHOT_B        -  removed in SNAPSHOT_B
  M  content changed           U  metadata changed (mode, owner, times, xattrs)
  T  type changed (for example a file became a directory)

With --json each change is a JSON line of type "change", and a final "statistics".`,
		Example: `  lifeboat diff 3f2a9c latest`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiff(cmd.Context(), a, args[0], args[1])
		},
	}
}

func runDiff(ctx context.Context, a *app, refA, refB string) error {
	repo, done, err := a.openRepository(ctx, withoutLock, true)
	if err != nil {
		return err
	}
	defer done()
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return err
	}
	sa, err := repository.FindSnapshot(all, refA, repository.Filter{})
	if err != nil {
		return err
	}
	sb, err := repository.FindSnapshot(all, refB, repository.Filter{})
	if err != nil {
		return err
	}
	a.out.infof("comparing snapshot %s to %s:", sa.ID.Short(), sb.ID.Short())
	st, err := snapshot.Diff(ctx, repo, sa.Tree, sb.Tree, func(c snapshot.Change) {
		a.out.result("change", c, func(w io.Writer) {
			p := repository.DisplayName(c.Path)
			if c.Dir {
				p += "/"
			}
			fmt.Fprintf(w, "%-2s %s\n", c.Kind, p)
		})
	})
	if err != nil {
		return err
	}
	a.out.result("statistics", results.DiffStatistics{Added: st.Added, Removed: st.Removed, Modified: st.Modified,
		Metadata: st.Metadata, TypeChanged: st.TypeChanged}, func(w io.Writer) {
		fmt.Fprintf(w, "\n%d added, %d removed, %d modified, %d metadata only, %d type changed\n",
			st.Added, st.Removed, st.Modified, st.Metadata, st.TypeChanged)
	})
	return nil
}
