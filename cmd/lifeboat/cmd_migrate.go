package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/volumes"
	"github.com/spf13/cobra"
)

type migrateOptions struct {
	from, to               string // engine hosts
	fromContext, toContext string
	container              string
	stopSource             bool
	force                  bool
	direct                 bool
	live                   bool
	maxRounds              int
	start                  bool
	waitHealthy, settle    time.Duration
}

func newMigrateCmd(a *app) *cobra.Command {
	var o migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate [VOLUME...] --to HOST|--to-context NAME",
		Short: "Move volumes to another Docker engine through the repository",
		Long: `Back volumes up on the source engine and restore them on the destination engine
into fresh named volumes with the same names, labels, driver and options,
through the configured repository (both engines must reach it). Afterwards
each volume's file count and size on both sides are compared, and every
restored file is read back and checked against the snapshot.

Engines are given as for the docker CLI: --from/--to take a DOCKER_HOST value
(unix://, tcp://, ssh://), --from-context/--to-context a docker context; the
source defaults to the current engine. A destination volume that exists and
is not empty is refused unless --force.

While a volume is copied, the containers using it are handled as their
labels ask (lifeboat.stop, lifeboat.pause, lifeboat.pre/post, as for backup)
and started again afterwards; others get an "in use" warning. --stop-source
instead stops them before the copy and leaves them stopped, so that nothing
changes after it; if the migration fails, they are started again on the
source and the error says so.

--live copies while the containers run, so that they are stopped only for
what changed: a first round copies everything, further rounds copy what
changed meanwhile (each restored on the destination as a delta, writing only
what differs) while each sends less than the one before (at most
--max-rounds); a container labelled lifeboat.pre-stop has that command run
then, and one more round copies what it wrote (a database's checkpoint, so
that its shutdown has little left to write); then the containers are
stopped (--stop-source) or quiesced by their labels for a last round. The
downtime (from the stop to the data
being complete on the destination), each round's bytes sent and written,
and the last round's delta are reported (--json too). A destination volume
that already holds an earlier copy still needs --force; it is then made
equal to the source.

--start (with --container) moves the application too: before anything
stops, its image is sent to the destination if that engine lacks it (docker
save and load through lifeboat, no registry); after the copy a container
with the same configuration is created there on the migrated volumes and
started, and must become healthy within --wait-healthy (or, without a health
check, keep running for --wait). The source container stays stopped
(--start implies --stop-source). If the new container fails, it is removed,
the source container runs again, and the error says so.

--direct needs no repository: a sidecar on each engine, joined through
lifeboat, streams the volume as it is read; nothing is stored but the
volumes. The volume it creates is labelled as the source's copy
(org.lifeboat.direct-copy-of); migrating again updates that copy without
--force while no container on the destination uses it: the destination
first tells the source what it has, and only the 16 KiB blocks that differ
travel. Every file is read back against the source's hash; the bytes sent
(and the signatures sent back) are reported.

--live --direct streams the rounds: each round sends only the blocks that
changed since the one before, with no repository in between; the last
round's sidecars start before the stop, the destination reads its copy while
the containers stop, and the source reads only once they have.`,
		Example: `  lifeboat migrate pgdata uploads --from unix:///var/run/docker.sock --to ssh://admin@new-host
  lifeboat migrate --container shop-db --to-context prod-2 --stop-source
  lifeboat migrate pgdata --to ssh://admin@new-host --live --stop-source
  lifeboat migrate --container shop-db --to-context prod-2 --live --start
  lifeboat migrate pgdata --to ssh://admin@new-host --direct --stop-source
  lifeboat migrate pgdata --to ssh://admin@new-host --direct          # again later: what changed travels
  lifeboat migrate --container shop-db --to ssh://admin@new-host --live --direct --start`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.to == "" && o.toContext == "" {
				return usageError{errors.New("give the destination with --to or --to-context")}
			}
			if len(args) == 0 && o.container == "" {
				return usageError{errors.New("give volumes to migrate, or --container")}
			}
			mo := volumes.MigrateOptions{Names: args, Container: o.container, StopSource: o.stopSource, Force: o.force,
				Direct: o.direct, Live: o.live, Start: o.start}
			if o.live || cmd.Flags().Changed("max-rounds") {
				mo.MaxRounds = o.maxRounds
			}
			if o.start || cmd.Flags().Changed("wait-healthy") || cmd.Flags().Changed("wait") {
				mo.WaitHealthy, mo.Settle = o.waitHealthy, o.settle
			}
			if err := mo.Validate(); err != nil {
				return usageError{err}
			}
			return runMigrate(cmd.Context(), a, o, mo)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "source engine (DOCKER_HOST syntax; default: the current engine)")
	f.StringVar(&o.fromContext, "from-context", "", "source docker context")
	f.StringVar(&o.to, "to", "", "destination engine (DOCKER_HOST syntax)")
	f.StringVar(&o.toContext, "to-context", "", "destination docker context")
	f.StringVar(&o.container, "container", "", "migrate the volumes this container uses")
	f.BoolVar(&o.stopSource, "stop-source", false, "stop the containers using a volume before its copy (they stay stopped)")
	f.BoolVar(&o.force, "force", false, "overwrite destination volumes that are not empty")
	f.BoolVar(&o.direct, "direct", false, "no shared repository: stream each volume from a sidecar on the source to one on the destination through lifeboat")
	f.BoolVar(&o.live, "live", false, "copy while the containers run; stop (--stop-source) or quiesce them only for the last delta (with --direct too)")
	f.IntVar(&o.maxRounds, "max-rounds", volumes.DefaultMaxRounds, "with --live: most rounds copied while the containers run")
	f.BoolVar(&o.start, "start", false, "with --container: create and start the container on the destination (the source one stays stopped)")
	f.DurationVar(&o.waitHealthy, "wait-healthy", 2*time.Minute, "with --start: how long the container may take to become healthy there")
	f.DurationVar(&o.settle, "wait", 10*time.Second, "with --start, without a health check: how long it must keep running there")
	return cmd
}

// engineFor connects to the engine of --X or --X-context.
func (a *app) engineFor(ctx context.Context, host, contextName string) (volumes.Connection, error) {
	return volumes.Connect(ctx, host, contextName, a.getenv("LIFEBOAT_SSH_OPTIONS"), a.getenv)
}

func runMigrate(ctx context.Context, a *app, o migrateOptions, mo volumes.MigrateOptions) error {
	src, err := a.engineFor(ctx, o.from, o.fromContext)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	dst, err := a.engineFor(ctx, o.to, o.toContext)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer dst.Close()
	lines := &sidecarLines{a: a}
	mo.Host, mo.Lines = a.snapshotHost(ctx), lines.line
	stop := a.startProgress("migrate", lines.progress)
	moved, err := volumes.Migrate(ctx, src, dst, a.sidecars(), reporter{a}, mo)
	stop()
	if moved != nil && len(moved.Volumes) > 0 {
		res := results.Migrate{From: src.Host(), To: dst.Host(), Volumes: moved.Volumes,
			DowntimeSeconds: moved.Downtime.Seconds(), Started: moved.Container}
		if o.live {
			res.Rounds = moved.Rounds
		}
		a.out.report("migrate", res, func(w io.Writer) {
			printRounds(w, moved, o.direct)
			switch {
			case moved.Container != "":
				fmt.Fprintf(w, "%s runs on %s (stopped on %s); downtime %s (from the stop to its start there)\n",
					moved.Container, dst.Host(), src.Host(), moved.Downtime.Round(10*time.Millisecond))
			case moved.Downtime > 0:
				fmt.Fprintf(w, "downtime %s (from the stop to the data complete on %s)\n", moved.Downtime.Round(10*time.Millisecond), dst.Host())
			}
			printMigrated(w, moved, o.direct, o.live)
		})
	}
	return err
}

// printRounds says what each round of a live migration sent (and wrote).
func printRounds(w io.Writer, moved *volumes.Migration, direct bool) {
	for i, rd := range moved.Rounds {
		when := "while running"
		if i == len(moved.Rounds)-1 {
			when = "after the stop"
		}
		if direct {
			fmt.Fprintf(w, "round %d (%s): %s sent in %.1fs\n", i+1, when, human.Bytes(rd.Sent), rd.Seconds)
			continue
		}
		fmt.Fprintf(w, "round %d (%s): %s sent, %s written into %d files in %.1fs\n", i+1, when,
			human.Bytes(rd.Sent), human.Bytes(rd.Written), rd.Files, rd.Seconds)
	}
}

// printMigrated says what each volume holds on the destination and
// whether it read back as copied (a direct copy said so as it went).
func printMigrated(w io.Writer, moved *volumes.Migration, direct, live bool) {
	if direct {
		return
	}
	for _, m := range moved.Volumes {
		verdict := "match"
		if !m.Match {
			verdict = "DIFFER"
		}
		if live {
			fmt.Fprintf(w, "%s: %d files, %s; what each round wrote read back: %s\n", m.Volume, m.Files, human.Bytes(m.Bytes), verdict)
		} else {
			fmt.Fprintf(w, "%s: %d files, %s on both sides, content verified: %s\n", m.Volume, m.Files, human.Bytes(m.Bytes), verdict)
		}
	}
}
