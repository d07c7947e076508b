package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/spf13/cobra"
)

// filterFlags select snapshots in several commands.
type filterFlags struct {
	host   string
	tags   []string
	paths  []string
	volume string
}

func (f *filterFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.host, "host", "", "only snapshots of this host")
	cmd.Flags().StringArrayVar(&f.tags, "tag", nil, "only snapshots with this tag (repeatable: all must match)")
	cmd.Flags().StringArrayVar(&f.paths, "path", nil, "only snapshots of exactly these paths (repeatable)")
	cmd.Flags().StringVar(&f.volume, "volume", "", "only snapshots of this Docker volume")
}

func (f *filterFlags) filter() repository.Filter {
	return repository.Filter{Host: f.host, Tags: f.tags, Paths: f.paths, Volume: f.volume}
}

// findSnapshot resolves "latest" or an id prefix.
func findSnapshot(ctx context.Context, repo *repository.Repository, ref string, f repository.Filter) (*repository.Snapshot, error) {
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	return repository.FindSnapshot(all, ref, f)
}

func newSnapshotsCmd(a *app) *cobra.Command {
	var f filterFlags
	cmd := &cobra.Command{
		Use:   "snapshots",
		Short: "List snapshots",
		Long: `List the snapshots in the repository, oldest first.

With --json it prints one object of type "snapshots" holding the list.`,
		Example: `  lifeboat snapshots --tag nightly
  lifeboat snapshots --json | jq '.snapshots[].short_id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSnapshots(cmd.Context(), a, f)
		},
	}
	f.register(cmd)
	return cmd
}

func runSnapshots(ctx context.Context, a *app, f filterFlags) error {
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	defer done()
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return err
	}
	list := []results.Snapshot{}
	var sel []*repository.Snapshot
	for _, s := range all {
		if f.filter().Match(s) {
			list = append(list, results.NewSnapshot(s))
			sel = append(sel, s)
		}
	}
	a.out.result("snapshots", results.Snapshots{Snapshots: list}, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTime\tHost\tTags\tSize\tSource")
		for _, s := range sel {
			mark := ""
			if s.Incomplete {
				mark = " (incomplete)"
			}
			if n := s.Summary.ChangedWhileRead; n > 0 {
				mark += fmt.Sprintf(" (%s changed while read)", human.Count(int(n), "file", "files"))
			}
			what := strings.Join(s.Paths, ",")
			if s.Volume != nil {
				what = "volume " + s.Volume.Name
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s%s\n", s.ID.Short(), s.Time.Local().Format("2006-01-02 15:04:05"),
				s.Host, strings.Join(s.Tags, ","), human.Bytes(s.Summary.TotalBytes), what, mark)
		}
		tw.Flush()
		fmt.Fprintln(w, human.Count(len(sel), "snapshot", "snapshots"))
	})
	return nil
}
