package volumes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// Swarm is what the service workflows ask of a swarm manager.
type Swarm interface {
	Service(ctx context.Context, name string) (*sidecar.Service, error)
	FollowedServices(ctx context.Context) ([]*sidecar.Service, error)
	ServiceTasks(ctx context.Context, serviceID string) ([]sidecar.SwarmTask, error)
	SwarmNodes(ctx context.Context) ([]sidecar.SwarmNode, error)
	ScaleService(ctx context.Context, svc *sidecar.Service, replicas uint64) error
	PlaceService(ctx context.Context, svc *sidecar.Service, node sidecar.SwarmNode) error
	ResetService(ctx context.Context, svc *sidecar.Service) error
}

// SwarmNode is a node of the swarm, as the manager lists it.
type SwarmNode = sidecar.SwarmNode

// NodeEngines connects to a swarm node's engine; close ends the
// connection.
type NodeEngines func(ctx context.Context, node SwarmNode) (e Engine, close func(), err error)

// ServiceMoveOptions say which service goes where, and how its volumes
// are copied (as MigrateOptions: Live, MaxRounds, Direct, Force).
type ServiceMoveOptions struct {
	Service string
	// From, in place of Service: every followed service running on this
	// node (MoveServicesFrom).
	From string
	To   string // the node's hostname or id
	Live bool
	// MaxRounds bounds the live rounds (1 to MaxMaxRounds with Live).
	MaxRounds int
	Direct    bool
	Force     bool
	Host      string // the snapshot host of copies through the repository
	// Stopped bounds the wait for the service's task to stop, Running
	// the wait for its task on the destination to run (each default 2m).
	Stopped, Running time.Duration
	Lines            func(line []byte)
}

// Validate refuses a move without a service or a node, or with copy
// options that do not go together.
func (o ServiceMoveOptions) Validate() error {
	switch {
	case (o.Service == "") == (o.From == ""):
		return errors.New("give the service to move, or --from a node to move every followed service off it")
	case o.To == "":
		return errors.New("give the node to move it to with --to")
	case o.Stopped < 0 || o.Running < 0:
		return errors.New("waits must not be negative")
	}
	return o.migrate(nil).Validate()
}

func (o ServiceMoveOptions) migrate(names []string) MigrateOptions {
	return MigrateOptions{Names: names, StopSource: true, Force: o.Force, Host: o.Host, Direct: o.Direct,
		Live: o.Live, MaxRounds: o.MaxRounds, Lines: o.Lines}
}

// ServiceMove is what MoveService did.
type ServiceMove struct {
	Service   string
	From      string // node hostnames
	To        string
	Migration *Migration
	// Downtime: from the stop of the service's task (scaled to 0) to its
	// task running on To, as the swarm reports it.
	Downtime time.Duration
}

// MoveService moves a service that lifeboat follows (sidecar.LabelFollow)
// with its named volumes to another node: the volumes are copied as
// Migrate copies them (in live rounds while it runs, with Live), the
// service is scaled to 0 for the last copy, then pinned to the node (a
// placement constraint recorded in sidecar.LabelPlacement) at its
// replicas. If anything fails once it was scaled down, the service is put
// back, pinned to its node (unpinned, the swarm could start it on another
// node's empty volume): it runs again there on its volumes as they were,
// and the error says so.
func MoveService(ctx context.Context, sw Swarm, engines NodeEngines, sc Sidecars, r Reporter, o ServiceMoveOptions) (*ServiceMove, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.From != "" {
		return nil, errors.New("MoveService moves one service: MoveServicesFrom moves those on a node")
	}
	svc, err := sw.Service(ctx, o.Service)
	if err != nil {
		return nil, err
	}
	if err := movable(svc); err != nil {
		return nil, err
	}
	nodes, err := sw.SwarmNodes(ctx)
	if err != nil {
		return nil, err
	}
	from, err := runningOn(ctx, sw, svc, nodes)
	if err != nil {
		return nil, err
	}
	to, ok := findNode(nodes, o.To)
	switch {
	case !ok:
		return nil, fmt.Errorf("no node %s in the swarm (nodes: %s)", o.To, nodeNames(nodes))
	case to.ID == from.ID:
		return nil, fmt.Errorf("service %s runs on %s already", svc.Name, to.Hostname)
	case !to.Ready || !to.Active:
		return nil, fmt.Errorf("node %s is not ready and active: a task cannot start there", to.Hostname)
	}
	src, closeSrc, err := engines(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", from.Hostname, err)
	}
	defer closeSrc()
	if err := onlyTasksOf(ctx, src, svc); err != nil {
		return nil, err
	}
	dst, closeDst, err := engines(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", to.Hostname, err)
	}
	defer closeDst()
	// An image on neither node: the destination pulls it, if it can.
	if _, err := sendImage(ctx, src, dst, r, svc.Image); err != nil {
		return nil, err
	}
	mv := &ServiceMove{Service: svc.Name, From: from.Hostname, To: to.Hostname}
	mo := o.migrate(svc.Volumes)
	var stoppedAt time.Time
	mo.StopUsers = func(ctx context.Context, report sidecar.Report) (func(context.Context) error, error) {
		report(messages.Event{Action: sidecar.ActionStop, Container: svc.Name, Message: fmt.Sprintf("scaling service %s to 0 on %s", svc.Name, from.Hostname)})
		restart := func(ctx context.Context) error {
			report(messages.Event{Action: sidecar.ActionStart, Container: svc.Name, Message: fmt.Sprintf("putting service %s back on %s", svc.Name, from.Hostname)})
			return sw.PlaceService(ctx, svc, from)
		}
		if err := sw.ScaleService(ctx, svc, 0); err != nil {
			return restart, err
		}
		// The swarm stops the task when its node hears of the scale, which
		// can take seconds: its container is stopped here at once (its
		// pre-stop hook first), and the downtime starts now. The swarm
		// starts none again: it wants no replica. Whether the stop
		// succeeded, the wait for no users says.
		stoppedAt = time.Now()
		for _, v := range svc.Volumes {
			_, _ = src.StopUsers(ctx, v, report)
		}
		return restart, awaitNoUsers(ctx, src, svc, wait(o.Stopped))
	}
	r.Infof("moving service %s with volumes %s from %s to %s", svc.Name, strings.Join(svc.Volumes, ", "), from.Hostname, to.Hostname)
	mv.Migration, err = Migrate(ctx, src, dst, sc, r, mo)
	if err != nil {
		return mv, err
	}
	r.Infof("starting service %s on %s", svc.Name, to.Hostname)
	err = sw.PlaceService(ctx, svc, to)
	if err == nil {
		err = awaitRunning(ctx, sw, svc, to, wait(o.Running))
	}
	if err != nil {
		bg := context.WithoutCancel(ctx)
		if rerr := sw.PlaceService(bg, svc, from); rerr != nil {
			return mv, fmt.Errorf("service %s did not start on %s (%w), and putting it back on %s failed too (%v): its volumes there are as they were; update the service by hand", svc.Name, to.Hostname, err, from.Hostname, rerr)
		}
		return mv, fmt.Errorf("service %s did not start on %s (%w); it was put back on %s, with its volumes as they were (the copies on %s are left)", svc.Name, to.Hostname, err, from.Hostname, to.Hostname)
	}
	mv.Downtime = time.Since(stoppedAt)
	return mv, nil
}

// MoveServicesFrom moves every followed service whose task runs on node
// o.From to o.To, one after the other, as MoveService moves each: before
// o.From is drained. A failed move does not stop the
// others; the error names each that failed.
func MoveServicesFrom(ctx context.Context, sw Swarm, engines NodeEngines, sc Sidecars, r Reporter, o ServiceMoveOptions) ([]*ServiceMove, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	from := o.From
	svcs, err := sw.FollowedServices(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := sw.SwarmNodes(ctx)
	if err != nil {
		return nil, err
	}
	node, ok := findNode(nodes, from)
	if !ok {
		return nil, fmt.Errorf("no node %s in the swarm (nodes: %s)", from, nodeNames(nodes))
	}
	var moves []*ServiceMove
	var failed []error
	for _, svc := range svcs {
		if on, err := runningOn(ctx, sw, svc, nodes); err != nil || on.ID != node.ID {
			continue
		}
		o.Service, o.From = svc.Name, ""
		mv, err := MoveService(ctx, sw, engines, sc, r, o)
		if mv != nil {
			moves = append(moves, mv)
		}
		if err != nil {
			r.Warn(svc.Name, err)
			failed = append(failed, fmt.Errorf("%s: %w", svc.Name, err))
		}
	}
	if len(failed) > 0 {
		return moves, fmt.Errorf("%s of %s could not be moved: %w", human.Count(len(failed), "service", "services"), node.Hostname, errors.Join(failed...))
	}
	if len(moves) == 0 {
		r.Infof("no followed service runs on %s", node.Hostname)
	}
	return moves, nil
}

// onlyTasksOf refuses when a running container other than the service's
// tasks uses its volumes on e: the move stops what uses them, and it may
// stop nothing but the service.
func onlyTasksOf(ctx context.Context, e Engine, svc *sidecar.Service) error {
	for _, v := range svc.Volumes {
		users, err := e.RunningUsers(ctx, v)
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.Labels[sidecar.LabelSwarmService] != svc.Name {
				return fmt.Errorf("volume %s is also used by container %s, which is no task of service %s: the move would stop it too; stop it first", v, u.Name, svc.Name)
			}
		}
	}
	return nil
}

// movable refuses services a move cannot carry.
func movable(svc *sidecar.Service) error {
	switch {
	case !svc.Follows():
		return fmt.Errorf("service %s is not labelled %s=true: lifeboat moves the services it follows", svc.Name, sidecar.LabelFollow)
	case svc.Global:
		return fmt.Errorf("service %s is global: it runs on every node already", svc.Name)
	case svc.Replicas != 1:
		return fmt.Errorf("service %s has %d replicas: a move carries one task's volumes (scale it to 1)", svc.Name, svc.Replicas)
	case len(svc.Templated) > 0:
		return fmt.Errorf("service %s mounts templated volumes (%s): each task has its own, which a move cannot name", svc.Name, strings.Join(svc.Templated, ", "))
	case len(svc.Volumes) == 0:
		return fmt.Errorf("service %s mounts no named volume: there is nothing to move with it", svc.Name)
	}
	return nil
}

// runningOn is the node where the service's one task runs.
func runningOn(ctx context.Context, sw Swarm, svc *sidecar.Service, nodes []sidecar.SwarmNode) (sidecar.SwarmNode, error) {
	tasks, err := sw.ServiceTasks(ctx, svc.ID)
	if err != nil {
		return sidecar.SwarmNode{}, err
	}
	for _, t := range tasks {
		if t.State == "running" && t.DesiredState == "running" {
			if n, ok := findNode(nodes, t.NodeID); ok {
				return n, nil
			}
		}
	}
	return sidecar.SwarmNode{}, fmt.Errorf("service %s has no running task: its volumes are on the node where it last ran; start it there first", svc.Name)
}

// findNode finds a node by id or hostname.
func findNode(nodes []sidecar.SwarmNode, name string) (sidecar.SwarmNode, bool) {
	for _, n := range nodes {
		if n.ID == name || n.Hostname == name {
			return n, true
		}
	}
	return sidecar.SwarmNode{}, false
}

func nodeNames(nodes []sidecar.SwarmNode) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Hostname
	}
	return strings.Join(names, ", ")
}

// sendImage loads ref on dst from src when dst lacks it (no registry is
// needed), trying it also without its digest (stack deploy pins one that
// a locally loaded image lacks). found is false when neither has it.
func sendImage(ctx context.Context, src, dst Engine, r Reporter, ref string) (found bool, err error) {
	for _, try := range []string{ref, strings.SplitN(ref, "@", 2)[0]} {
		if dst.ImageExists(ctx, try) {
			return true, nil
		}
		if !src.ImageExists(ctx, try) {
			continue
		}
		r.Infof("sending image %s to %s", try, dst.Host())
		rc, err := src.SaveImage(ctx, try)
		if err != nil {
			return true, err
		}
		defer rc.Close()
		if err := dst.LoadImages(ctx, rc); err != nil {
			return true, fmt.Errorf("destination: %w", err)
		}
		return true, nil
	}
	return false, nil
}

func wait(d time.Duration) time.Duration {
	if d == 0 {
		return 2 * time.Minute
	}
	return d
}

// pollEvery is how often the service waits look again.
const pollEvery = 100 * time.Millisecond

// awaitNoUsers waits until no running container on e uses the service's
// volumes: its task has stopped.
func awaitNoUsers(ctx context.Context, e Engine, svc *sidecar.Service, limit time.Duration) error {
	return poll(ctx, limit, func() (bool, error) {
		for _, v := range svc.Volumes {
			users, err := e.RunningUsers(ctx, v)
			if err != nil || len(users) > 0 {
				return false, err
			}
		}
		return true, nil
	}, fmt.Sprintf("service %s's task to stop", svc.Name))
}

// awaitRunning waits until the service's task runs on node; the error
// of a wait that ends says what the swarm said of the task.
func awaitRunning(ctx context.Context, sw Swarm, svc *sidecar.Service, node sidecar.SwarmNode, limit time.Duration) error {
	said := ""
	err := poll(ctx, limit, func() (bool, error) {
		tasks, err := sw.ServiceTasks(ctx, svc.ID)
		if err != nil {
			return false, err
		}
		for _, t := range tasks {
			switch {
			case t.NodeID == node.ID && t.State == "running" && t.DesiredState == "running":
				return true, nil
			case t.DesiredState == "running" && t.Message != "":
				said = t.State + ": " + t.Message
			}
		}
		return false, nil
	}, fmt.Sprintf("service %s's task to run on %s", svc.Name, node.Hostname))
	if err != nil && said != "" {
		return fmt.Errorf("%w; the swarm says: %s", err, said)
	}
	return err
}

// poll asks done every pollEvery until it says yes, fails, or limit
// passes.
func poll(ctx context.Context, limit time.Duration, done func() (bool, error), what string) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := done()
		switch {
		case err != nil:
			return err
		case ok:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("waited %s for %s", limit, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// ServiceState is where a followed service runs and how recent the copies
// of its volumes are.
type ServiceState struct {
	Service string
	// Nodes are the hostnames its running tasks are on (none: stopped).
	Nodes []string
	// Pinned: a constraint names its node, so it waits when that node
	// fails (service recover) instead of starting on empty volumes.
	Pinned  bool
	Volumes []ServiceVolumeState
}

// ServiceVolumeState is one volume of a followed service: its newest
// snapshot taken on the node the service runs on (Node), and its newest
// from anywhere when that is another (Elsewhere).
type ServiceVolumeState struct {
	Volume    string
	Node      *repository.Snapshot
	Elsewhere *repository.Snapshot
}

// ServiceStatus reports every service that lifeboat follows, from a swarm
// manager and the repository's snapshots.
func ServiceStatus(ctx context.Context, sw Swarm, snaps []*repository.Snapshot) ([]ServiceState, error) {
	svcs, err := sw.FollowedServices(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := sw.SwarmNodes(ctx)
	if err != nil {
		return nil, err
	}
	out := []ServiceState{}
	for _, svc := range svcs {
		tasks, err := sw.ServiceTasks(ctx, svc.ID)
		if err != nil {
			return nil, err
		}
		st := ServiceState{Service: svc.Name, Nodes: []string{}, Pinned: svc.Pinned, Volumes: []ServiceVolumeState{}}
		for _, t := range tasks {
			if n, ok := findNode(nodes, t.NodeID); ok && t.State == "running" && t.DesiredState == "running" && !slices.Contains(st.Nodes, n.Hostname) {
				st.Nodes = append(st.Nodes, n.Hostname)
			}
		}
		slices.Sort(st.Nodes)
		for _, v := range svc.Volumes {
			vs := ServiceVolumeState{Volume: v}
			for _, s := range snaps {
				switch {
				case s.Volume == nil || s.Volume.Name != v || s.Incomplete:
				case slices.Contains(st.Nodes, s.Host):
					if vs.Node == nil || s.Time.After(vs.Node.Time) {
						vs.Node = s
					}
				case vs.Elsewhere == nil || s.Time.After(vs.Elsewhere.Time):
					vs.Elsewhere = s
				}
			}
			if vs.Node != nil && vs.Elsewhere != nil && !vs.Elsewhere.Time.After(vs.Node.Time) {
				vs.Elsewhere = nil
			}
			st.Volumes = append(st.Volumes, vs)
		}
		out = append(out, st)
	}
	return out, nil
}

// ServiceRecoverOptions say which service to recover and where.
type ServiceRecoverOptions struct {
	Service string
	// To is the node to recover it on (hostname or id); "" picks the first
	// ready, active node by name.
	To string
	// Force overwrites volumes on the node that hold data.
	Force   bool
	Running time.Duration // the wait for its task to run (default 2m)
	Lines   func(line []byte)
}

// ServiceRecovery is what RecoverService did.
type ServiceRecovery struct {
	Service string
	From    string // the node that is down
	To      string
	Volumes []Recovered
}

// Recovered is one volume restored from its newest snapshot on the node
// that went down: the recovery point is that snapshot's time.
type Recovered struct {
	Volume   string
	Snapshot *repository.Snapshot
	Files    int64
	Bytes    int64
}

// RecoverService brings a followed service whose node is down back up on
// another node, from the newest snapshots of its volumes taken on the node
// that went down (snaps, the repository's). A service pinned to its node
// (as a move leaves it, or by a node.hostname constraint) waits, pending,
// when the node fails, instead of starting on empty volumes elsewhere;
// RecoverService scales it to 0, restores its volumes on the node, pins it
// there and scales it back. If anything fails after the scale to 0, its
// spec is put back. A service that runs, or whose node is up, is refused:
// its volumes are where it ran (service move moves them).
func RecoverService(ctx context.Context, sw Swarm, engines NodeEngines, sc Sidecars, r Reporter, snaps []*repository.Snapshot, o ServiceRecoverOptions) (*ServiceRecovery, error) {
	if o.Service == "" {
		return nil, errors.New("give the service to recover")
	}
	svc, err := sw.Service(ctx, o.Service)
	if err != nil {
		return nil, err
	}
	nodes, err := sw.SwarmNodes(ctx)
	if err != nil {
		return nil, err
	}
	if n, err := runningOn(ctx, sw, svc, nodes); err == nil {
		return nil, fmt.Errorf("service %s runs on %s: nothing to recover (service move moves it)", svc.Name, n.Hostname)
	}
	if err := movable(svc); err != nil {
		return nil, err
	}
	from, err := lastNode(ctx, sw, svc, nodes)
	if err != nil {
		return nil, err
	}
	if from.Ready {
		return nil, fmt.Errorf("node %s, where service %s last ran, is up: its volumes are there; start it there (docker service update --force %s)", from.Hostname, svc.Name, svc.Name)
	}
	candidates, err := recoveryNodes(nodes, from, o.To)
	if err != nil {
		return nil, err
	}
	to, dst, closeDst, err := withImage(ctx, engines, candidates, svc.Image)
	if err != nil {
		return nil, err
	}
	defer closeDst()
	rec := &ServiceRecovery{Service: svc.Name, From: from.Hostname, To: to.Hostname}
	for _, v := range svc.Volumes {
		s := newestOf(snaps, v, from.Hostname)
		if s == nil {
			return nil, fmt.Errorf("no snapshot of volume %s from node %s: nothing to recover it from", v, from.Hostname)
		}
		rec.Volumes = append(rec.Volumes, Recovered{Volume: v, Snapshot: s})
	}
	if !hasImage(ctx, dst, svc.Image) {
		r.Warn(svc.Name, fmt.Errorf("node %s lacks image %s: its task runs only if the node can pull it", to.Hostname, svc.Image))
	}
	if err := sw.ScaleService(ctx, svc, 0); err != nil {
		return nil, err
	}
	err = func() error {
		for i, rv := range rec.Volumes {
			r.Infof("restoring volume %s on %s from snapshot %s (%s, taken on %s)", rv.Volume, to.Hostname, rv.Snapshot.ID.Short(),
				rv.Snapshot.Time.Format(time.RFC3339), from.Hostname)
			sum, err := Restore(ctx, dst, sc, r, RestoreOptions{Snapshot: rv.Snapshot, Volume: rv.Volume, Force: o.Force, Verify: true, Lines: o.Lines})
			if err != nil {
				return fmt.Errorf("volume %s: %w", rv.Volume, err)
			}
			res := sum.Result
			rec.Volumes[i].Files, rec.Volumes[i].Bytes = res.Files+res.Links, res.Bytes+res.LinkBytes
		}
		r.Infof("starting service %s on %s", svc.Name, to.Hostname)
		if err := sw.PlaceService(ctx, svc, to); err != nil {
			return err
		}
		return awaitRunning(ctx, sw, svc, to, wait(o.Running))
	}()
	if err != nil {
		if rerr := sw.ResetService(context.WithoutCancel(ctx), svc); rerr != nil {
			return rec, fmt.Errorf("recovering service %s on %s: %w; putting its spec back failed too (%v): update the service by hand", svc.Name, to.Hostname, err, rerr)
		}
		return rec, fmt.Errorf("recovering service %s on %s: %w; its spec was put back (it waits for %s)", svc.Name, to.Hostname, err, from.Hostname)
	}
	return rec, nil
}

// lastNode is the node of the service's newest task that had one.
func lastNode(ctx context.Context, sw Swarm, svc *sidecar.Service, nodes []sidecar.SwarmNode) (sidecar.SwarmNode, error) {
	tasks, err := sw.ServiceTasks(ctx, svc.ID)
	if err != nil {
		return sidecar.SwarmNode{}, err
	}
	var newest sidecar.SwarmTask
	for _, t := range tasks {
		if t.NodeID != "" && t.Created.After(newest.Created) {
			newest = t
		}
	}
	if n, ok := findNode(nodes, newest.NodeID); ok {
		return n, nil
	}
	return sidecar.SwarmNode{}, fmt.Errorf("service %s has run on no node the swarm knows: nothing to recover", svc.Name)
}

// recoveryNodes are the nodes a service may be recovered on: the one
// named to, or every ready, active one other than from, by name.
func recoveryNodes(nodes []sidecar.SwarmNode, from sidecar.SwarmNode, to string) ([]sidecar.SwarmNode, error) {
	if to != "" {
		n, ok := findNode(nodes, to)
		switch {
		case !ok:
			return nil, fmt.Errorf("no node %s in the swarm (nodes: %s)", to, nodeNames(nodes))
		case n.ID == from.ID || !n.Ready || !n.Active:
			return nil, fmt.Errorf("node %s is not ready and active: a task cannot start there", n.Hostname)
		}
		return []sidecar.SwarmNode{n}, nil
	}
	var out []sidecar.SwarmNode
	for _, n := range nodes {
		if n.ID != from.ID && n.Ready && n.Active {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no other node is ready and active")
	}
	return out, nil
}

// withImage connects to the first candidate whose engine has image, or,
// when none has, to the first.
func withImage(ctx context.Context, engines NodeEngines, candidates []sidecar.SwarmNode, image string) (sidecar.SwarmNode, Engine, func(), error) {
	connect := func(n sidecar.SwarmNode) (Engine, func(), error) {
		e, closeE, err := engines(ctx, n)
		if err != nil {
			return nil, nil, fmt.Errorf("node %s: %w", n.Hostname, err)
		}
		return e, closeE, nil
	}
	for _, n := range candidates {
		e, closeE, err := connect(n)
		if err != nil {
			return n, nil, nil, err
		}
		if hasImage(ctx, e, image) {
			return n, e, closeE, nil
		}
		closeE()
	}
	e, closeE, err := connect(candidates[0])
	return candidates[0], e, closeE, err
}

// hasImage reports whether e has image, with its digest or without.
func hasImage(ctx context.Context, e Engine, image string) bool {
	return image == "" || e.ImageExists(ctx, image) || e.ImageExists(ctx, strings.SplitN(image, "@", 2)[0])
}

// newestOf is the newest complete snapshot of volume taken on host.
func newestOf(snaps []*repository.Snapshot, volume, host string) *repository.Snapshot {
	var out *repository.Snapshot
	for _, s := range snaps {
		if s.Volume != nil && s.Volume.Name == volume && s.Host == host && !s.Incomplete && (out == nil || s.Time.After(out.Time)) {
			out = s
		}
	}
	return out
}
