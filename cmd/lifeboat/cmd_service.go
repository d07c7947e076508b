package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/volumes"
	"github.com/spf13/cobra"
)

func newServiceCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Move swarm services with their volumes between nodes",
		Long: `A swarm service with local named volumes cannot move: a task started on
another node finds an empty volume there. lifeboat follows the services
labelled lifeboat.follow=true and moves their volumes with them.

The engine lifeboat talks to (--context, DOCKER_HOST) is a manager of the
swarm. The nodes' engines are reached as --node NAME=HOST says, else over
ssh at the node's swarm address (ssh://ADDR, as the docker CLI's ssh://).`,
	}
	cmd.AddCommand(newServiceMoveCmd(a), newServiceRecoverCmd(a), newServiceStatusCmd(a))
	return cmd
}

// manager connects to the engine lifeboat talks to (--context,
// DOCKER_HOST): the service commands need a swarm manager's.
func (a *app) manager(ctx context.Context) (volumes.Connection, error) {
	return a.engineFor(ctx, "", a.dockerContext)
}

// allSnapshots lists the repository's snapshots, without a lock.
func (a *app) allSnapshots(ctx context.Context) ([]*repository.Snapshot, error) {
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return nil, err
	}
	defer done()
	return repo.Snapshots(ctx)
}

type serviceOptions struct {
	nodes map[string]string // node hostname -> DOCKER_HOST
}

func (o *serviceOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringToStringVar(&o.nodes, "node", nil, "reach node NAME's engine at HOST (NAME=HOST, DOCKER_HOST syntax; repeatable; default ssh://ADDR, the node's swarm address)")
}

// engines connects to the nodes' engines.
func (o *serviceOptions) engines(a *app) volumes.NodeEngines {
	return func(ctx context.Context, n volumes.SwarmNode) (volumes.Engine, func(), error) {
		host, ok := o.nodes[n.Hostname]
		if !ok {
			host, ok = o.nodes[n.ID]
		}
		if !ok {
			host = "ssh://" + n.Addr
		}
		c, err := a.engineFor(ctx, host, "")
		if err != nil {
			return nil, nil, err
		}
		return c, func() { c.Close() }, nil
	}
}

func newServiceMoveCmd(a *app) *cobra.Command {
	var (
		so serviceOptions
		o  volumes.ServiceMoveOptions
	)
	cmd := &cobra.Command{
		Use:   "move SERVICE|--from NODE --to NODE",
		Short: "Move a service and its volumes to another node",
		Long: `Move a replicated service (one replica, labelled lifeboat.follow=true) with the
named volumes its task mounts to another node of the swarm:

  1. its image is sent to the node if that engine lacks it (no registry);
  2. its volumes are copied to the node as migrate copies them: through the
     repository, or --direct; with --live in rounds while it runs;
  3. it is scaled to 0 and its task stopped, and the last copy sends what
     changed;
  4. it is pinned to the node with a placement constraint (node.id==ID,
     recorded in the service label org.lifeboat.placement, which the next
     move replaces) and scaled back to 1; the move waits until its task
     runs there.

--from NODE instead of a service moves every followed service that runs on
NODE, one after the other, before it is drained (docker node update
--availability drain NODE): one that cannot move is reported and the
others go on.

If anything fails once it was scaled down, it is put back, pinned to its
node (unpinned, the swarm could start it on another node's empty volume):
it runs again there, on its volumes as they were, and the error says so. The volumes stay on the old node as they were at the stop. A volume on
the destination that holds data (from an earlier move there) is refused
unless --force. The downtime (from the stop of its task, which lifeboat
stops on its node at once after the scale to 0, with the container's
lifeboat.pre-stop hook first, to its task running on the node) is reported,
with each round's bytes (--json too).`,
		Example: `  lifeboat service move shop_db --to node-2 --live
  lifeboat service move shop_db --to node-1 --live --force     # back again
  lifeboat service move --from node-1 --to node-2 --live       # before draining node-1
  lifeboat service move shop_db --to node-2 --direct --node node-1=ssh://root@10.0.0.1 --node node-2=ssh://root@10.0.0.2`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Service = args[0]
			}
			if !o.Live && !cmd.Flags().Changed("max-rounds") {
				o.MaxRounds = 0
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			return runServiceMove(cmd.Context(), a, so, o)
		},
	}
	so.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.To, "to", "", "the node to move the service to (hostname or id)")
	f.StringVar(&o.From, "from", "", "move every followed service that runs on this node (before draining it)")
	f.BoolVar(&o.Live, "live", false, "copy while the service runs; scale it to 0 only for the last delta")
	f.IntVar(&o.MaxRounds, "max-rounds", volumes.DefaultMaxRounds, "with --live: most rounds copied while it runs")
	f.BoolVar(&o.Direct, "direct", false, "no shared repository: stream the volumes between sidecars on the two nodes through lifeboat")
	f.BoolVar(&o.Force, "force", false, "overwrite volumes on the node that hold data")
	f.DurationVar(&o.Stopped, "wait-stopped", 2*time.Minute, "how long its task may take to stop")
	f.DurationVar(&o.Running, "wait-running", 2*time.Minute, "how long its task may take to run on the node")
	return cmd
}

func runServiceMove(ctx context.Context, a *app, so serviceOptions, o volumes.ServiceMoveOptions) error {
	manager, err := a.manager(ctx)
	if err != nil {
		return err
	}
	defer manager.Close()
	lines := &sidecarLines{a: a}
	o.Host, o.Lines = a.snapshotHost(ctx), lines.line
	stop := a.startProgress("move", lines.progress)
	var moves []*volumes.ServiceMove
	if o.From != "" {
		moves, err = volumes.MoveServicesFrom(ctx, manager, so.engines(a), a.sidecars(), reporter{a}, o)
	} else {
		var mv *volumes.ServiceMove
		mv, err = volumes.MoveService(ctx, manager, so.engines(a), a.sidecars(), reporter{a}, o)
		if mv != nil {
			moves = append(moves, mv)
		}
	}
	stop()
	for _, mv := range moves {
		a.reportServiceMove(mv, o)
	}
	return err
}

// reportServiceMove prints what a service move did (the rounds and
// volumes of a move that failed after its copy too).
func (a *app) reportServiceMove(mv *volumes.ServiceMove, o volumes.ServiceMoveOptions) {
	moved := mv.Migration
	if moved == nil {
		return
	}
	res := results.ServiceMove{Service: mv.Service, From: mv.From, To: mv.To, Volumes: moved.Volumes, Rounds: moved.Rounds,
		DowntimeSeconds: mv.Downtime.Seconds()}
	a.out.report("service_move", res, func(w io.Writer) {
		printRounds(w, moved, o.Direct)
		printMigrated(w, moved, o.Direct, o.Live)
		if mv.Downtime > 0 {
			fmt.Fprintf(w, "service %s runs on %s (moved from %s); downtime %s (from the stop of its task to its task running there)\n",
				mv.Service, mv.To, mv.From, mv.Downtime.Round(10*time.Millisecond))
		}
	})
}

func newServiceRecoverCmd(a *app) *cobra.Command {
	var (
		so serviceOptions
		o  volumes.ServiceRecoverOptions
	)
	cmd := &cobra.Command{
		Use:   "recover SERVICE [--to NODE]",
		Short: "Bring a service whose node is down back up on another node, from its snapshots",
		Long: `When the node a followed service (lifeboat.follow=true) ran on fails, its
volumes are gone with it. A service pinned to its node (a move leaves it
pinned; or give it a node.hostname==NODE constraint) then waits, pending,
instead of starting on empty volumes elsewhere. recover brings it back:

  1. its volumes' newest snapshots taken on the node that is down are found
     (the node's daemon records the node's name as the snapshot host);
  2. it is scaled to 0, and each volume is restored on the node (--to, else
     the first ready node by name) into a fresh volume, every file read
     back against the snapshot;
  3. it is pinned to the node (as service move pins) and scaled back to 1.

What it wrote after those snapshots is lost: the recovery point is the
backup job's schedule. A service that runs, or whose node is up, is refused
(its volumes are where it ran: service move moves them). If anything fails
after the scale to 0, its spec is put back. A volume on the node that holds
data is refused unless --force.`,
		Example: `  lifeboat service recover shop_db
  lifeboat service recover shop_db --to node-2 --node node-2=ssh://root@10.0.0.2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Service = args[0]
			if o.Running < 0 {
				return usageError{errors.New("--wait-running must not be negative")}
			}
			return runServiceRecover(cmd.Context(), a, so, o)
		},
	}
	so.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.To, "to", "", "the node to recover the service on (default: the first ready node by name)")
	f.BoolVar(&o.Force, "force", false, "overwrite volumes on the node that hold data")
	f.DurationVar(&o.Running, "wait-running", 2*time.Minute, "how long its task may take to run on the node")
	return cmd
}

func runServiceRecover(ctx context.Context, a *app, so serviceOptions, o volumes.ServiceRecoverOptions) error {
	manager, err := a.manager(ctx)
	if err != nil {
		return err
	}
	defer manager.Close()
	snaps, err := a.allSnapshots(ctx)
	if err != nil {
		return err
	}
	lines := &sidecarLines{a: a}
	o.Lines = lines.line
	stop := a.startProgress("recover", lines.progress)
	rec, err := volumes.RecoverService(ctx, manager, so.engines(a), a.sidecars(), reporter{a}, snaps, o)
	stop()
	if rec == nil || err != nil {
		return err
	}
	now := time.Now()
	res := results.ServiceRecovery{Service: rec.Service, From: rec.From, To: rec.To}
	for _, v := range rec.Volumes {
		res.Volumes = append(res.Volumes, results.RecoveredVolume{Volume: v.Volume, Files: v.Files, Bytes: v.Bytes, Snapshot: *lastSnapshot(v.Snapshot, now)})
	}
	a.out.report("service_recover", res, func(w io.Writer) {
		for _, v := range res.Volumes {
			fmt.Fprintf(w, "%s: %d files, %s from snapshot %s, taken on %s %s ago\n", v.Volume, v.Files, human.Bytes(v.Bytes), v.Snapshot.ShortID,
				v.Snapshot.Host, human.Duration(time.Duration(v.Snapshot.AgeSeconds*float64(time.Second))))
		}
		fmt.Fprintf(w, "service %s runs on %s (%s is down); what it wrote after those snapshots is lost\n", res.Service, res.To, res.From)
	})
	return nil
}

func newServiceStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Where each followed service runs, and its volumes' last snapshots",
		Long: `List the services labelled lifeboat.follow=true: the node their task runs on,
and for each of their volumes the newest snapshot taken on that node (the
daemon there records the node's hostname as the snapshot host) and its age;
a newer snapshot from another node (before a move) is shown too. A volume
with no snapshot from its node is not protected where it runs. A service
that no constraint pins to its node is named: when its node fails, the
swarm starts it elsewhere on empty volumes, before service recover can
restore them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServiceStatus(cmd.Context(), a)
		},
	}
}

func runServiceStatus(ctx context.Context, a *app) error {
	manager, err := a.manager(ctx)
	if err != nil {
		return err
	}
	defer manager.Close()
	snaps, err := a.allSnapshots(ctx)
	if err != nil {
		return err
	}
	states, err := volumes.ServiceStatus(ctx, manager, snaps)
	if err != nil {
		return err
	}
	now := time.Now()
	res := results.ServiceStatus{Services: []results.ServiceState{}}
	for _, st := range states {
		s := results.ServiceState{Service: st.Service, Nodes: st.Nodes, Pinned: st.Pinned, Volumes: []results.ServiceVolume{}}
		for _, v := range st.Volumes {
			s.Volumes = append(s.Volumes, results.ServiceVolume{Volume: v.Volume, Last: lastSnapshot(v.Node, now), Elsewhere: lastSnapshot(v.Elsewhere, now)})
		}
		res.Services = append(res.Services, s)
	}
	a.out.result("service_status", res, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "Service\tNode\tVolume\tLast snapshot there\tAge")
		for _, s := range res.Services {
			node := strings.Join(s.Nodes, ",")
			if node == "" {
				node = "(not running)"
			}
			for _, v := range s.Volumes {
				last, age := "none: not protected there", "-"
				if v.Last != nil {
					last, age = v.Last.ShortID, human.Duration(time.Duration(v.Last.AgeSeconds*float64(time.Second)))
				}
				if v.Elsewhere != nil {
					last += fmt.Sprintf(" (newer on %s: %s)", v.Elsewhere.Host, v.Elsewhere.ShortID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Service, node, v.Volume, last, age)
			}
		}
		tw.Flush()
		for _, s := range res.Services {
			if !s.Pinned {
				fmt.Fprintf(w, "warning: %s is not pinned to its node: if the node fails, the swarm starts it on another node's empty volumes (service move pins it; or add --constraint node.hostname==NODE)\n", s.Service)
			}
		}
		fmt.Fprintln(w, human.Count(len(res.Services), "service followed", "services followed"))
	})
	return nil
}

// lastSnapshot is a snapshot as service status reports it; nil for none.
func lastSnapshot(s *repository.Snapshot, now time.Time) *results.LastSnapshot {
	if s == nil {
		return nil
	}
	return &results.LastSnapshot{ID: s.ID.String(), ShortID: s.ID.Short(), Host: s.Host,
		Time: s.Time.Format(time.RFC3339), AgeSeconds: now.Sub(s.Time).Seconds()}
}
