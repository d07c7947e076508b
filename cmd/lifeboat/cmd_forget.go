package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/repository/forget"
	"github.com/lifeboat-backup/lifeboat/repository/retention"
	"github.com/spf13/cobra"
)

type forgetOptions struct {
	policy retention.Policy
	dryRun bool
	f      filterFlags
}

func newForgetCmd(a *app) *cobra.Command {
	var o forgetOptions
	cmd := &cobra.Command{
		Use:   "forget [SNAPSHOT...] | --keep-last N --keep-daily N ...",
		Short: "Remove snapshots by id or by a retention policy",
		Long: `Remove snapshots: the ones named, or those a retention policy does not keep.

Snapshots are grouped by host and paths (and by volume for Docker volumes);
in each group the policy keeps the last N snapshots, the newest of each of
the last N hours, days, weeks, months and years (in local time), every
snapshot within a duration of the group's newest, and every snapshot with a
--keep-tag, and the pre-prune safety snapshots of "lifeboat volume prune" for
--keep-pre-prune (30 days). A snapshot any rule keeps stays, and the newest
snapshot of each group always stays: forget never empties a group. Counts and
durations must not be negative. --dry-run shows what would go and why each
kept snapshot stays.

Forget removes only snapshot manifests; the data they alone needed stays in
the repository until "lifeboat prune".`,
		Example: `  lifeboat forget --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12
  lifeboat forget --keep-within 48h --keep-tag pre-prune --dry-run
  lifeboat forget 3f2a9c1e`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !o.policy.Empty() {
				return usageError{errors.New("give snapshot ids or a policy, not both")}
			}
			if err := o.policy.Validate(); err != nil {
				return usageError{err}
			}
			if len(args) == 0 && o.policy.Empty() {
				return usageError{errors.New("give snapshot ids, or a policy such as --keep-last 3 (forgetting everything is refused)")}
			}
			return runForget(cmd.Context(), a, o, args)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.policy.Last, "keep-last", 0, "keep the last N snapshots")
	fl.IntVar(&o.policy.Hourly, "keep-hourly", 0, "keep the newest snapshot of each of the last N hours")
	fl.IntVar(&o.policy.Daily, "keep-daily", 0, "keep the newest snapshot of each of the last N days")
	fl.IntVar(&o.policy.Weekly, "keep-weekly", 0, "keep the newest snapshot of each of the last N weeks")
	fl.IntVar(&o.policy.Monthly, "keep-monthly", 0, "keep the newest snapshot of each of the last N months")
	fl.IntVar(&o.policy.Yearly, "keep-yearly", 0, "keep the newest snapshot of each of the last N years")
	fl.DurationVar(&o.policy.Within, "keep-within", 0, "keep snapshots within this duration of the newest, e.g. 48h")
	fl.StringArrayVar(&o.policy.Tags, "keep-tag", nil, "keep snapshots with this tag (repeatable)")
	fl.DurationVar(&o.policy.PrePrune, "keep-pre-prune", retention.DefaultPrePrune, "keep the safety snapshots of volume prune this long")
	fl.BoolVarP(&o.dryRun, "dry-run", "n", false, "only show what would be removed")
	o.f.register(cmd)
	return cmd
}

func runForget(ctx context.Context, a *app, o forgetOptions, ids []string) error {
	repo, done, err := a.openRepository(ctx, sharedLock, false)
	if err != nil {
		return err
	}
	defer done()
	res, err := forget.Run(ctx, repo, forget.Options{IDs: ids, Filter: o.f.filter(), Policy: o.policy, DryRun: o.dryRun})
	if res != nil {
		for _, g := range res.Groups {
			printGroup(a, g)
		}
	}
	if err != nil {
		return err
	}
	removed := make([]string, len(res.Removed))
	for i, id := range res.Removed {
		removed[i] = id.String()
	}
	a.out.report("forget", results.Forget{Removed: removed, DryRun: o.dryRun}, func(w io.Writer) {
		verb := "removed"
		if o.dryRun {
			verb = "would remove"
		}
		fmt.Fprintf(w, "%s %d snapshots\n", verb, len(removed))
	})
	return nil
}

func printGroup(a *app, g retention.Group) {
	var entries []results.GroupEntry
	for _, d := range g.Decisions {
		entries = append(entries, results.GroupEntry{ID: d.Snapshot.ID.String(), Time: d.Snapshot.Time.Format("2006-01-02T15:04:05Z07:00"), Keep: d.Keep, Reasons: d.Reasons})
	}
	a.out.result("group", results.Group{Group: g.Key, Snapshots: entries}, func(w io.Writer) {
		fmt.Fprintf(w, "%s:\n", g.Key)
		for _, d := range g.Decisions {
			mark := "remove"
			if d.Keep {
				mark = "keep   (" + strings.Join(d.Reasons, ", ") + ")"
			}
			fmt.Fprintf(w, "  %s  %s  %s\n", d.Snapshot.ID.Short(), d.Snapshot.Time.Local().Format("2006-01-02 15:04:05"), mark)
		}
	})
}
