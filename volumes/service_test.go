package volumes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// fakeSwarm is a manager in memory with one service, whose one task runs
// on the node on (its container is app on that node's fake engine).
type fakeSwarm struct {
	svc       *sidecar.Service
	nodes     []sidecar.SwarmNode
	engines   map[string]*fakeEngine // by node id
	on        string                 // the node its task runs on ("": none)
	placed    string                 // the node PlaceService pinned it to
	failPlace bool                   // its task never runs after PlaceService
	tasksRan  string                 // with on "": the node its last task ran on
	calls     []string
}

func (s *fakeSwarm) Service(_ context.Context, name string) (*sidecar.Service, error) {
	if name != s.svc.Name {
		return nil, errors.New("service " + name + ": not found")
	}
	return s.svc, nil
}
func (s *fakeSwarm) FollowedServices(context.Context) ([]*sidecar.Service, error) {
	return []*sidecar.Service{s.svc}, nil
}
func (s *fakeSwarm) ServiceTasks(context.Context, string) ([]sidecar.SwarmTask, error) {
	if s.on == "" {
		pending := sidecar.SwarmTask{ID: "t0", State: "pending", DesiredState: "running", Message: "no suitable node", Created: time.Now()}
		if s.tasksRan == "" {
			return []sidecar.SwarmTask{pending}, nil
		}
		ran := sidecar.SwarmTask{ID: "t-1", NodeID: s.tasksRan, State: "running", DesiredState: "shutdown", Created: time.Now().Add(-time.Hour)}
		return []sidecar.SwarmTask{ran, pending}, nil
	}
	return []sidecar.SwarmTask{{ID: "t1", NodeID: s.on, State: "running", DesiredState: "running"}}, nil
}
func (s *fakeSwarm) SwarmNodes(context.Context) ([]sidecar.SwarmNode, error) { return s.nodes, nil }
func (s *fakeSwarm) ScaleService(_ context.Context, _ *sidecar.Service, n uint64) error {
	s.calls = append(s.calls, fmt.Sprintf("scale %d", n))
	if n == 0 {
		s.on = ""
	}
	return nil
}
func (s *fakeSwarm) PlaceService(_ context.Context, _ *sidecar.Service, node sidecar.SwarmNode) error {
	s.calls = append(s.calls, "place "+node.Hostname)
	s.placed = node.ID
	if s.failPlace && node.ID != "n1" { // its task runs only where it ran
		return nil
	}
	s.on = node.ID
	if c := s.engines[node.ID].byName("app"); c != nil {
		c.running = true
	} else {
		s.engines[node.ID].addContainer("app", true, nil, s.svc.Volumes...)
	}
	return nil
}
func (s *fakeSwarm) ResetService(context.Context, *sidecar.Service) error {
	s.calls = append(s.calls, "reset")
	s.on = "n1"
	s.engines["n1"].byName("app").running = true
	return nil
}

func newFakeSwarm() *fakeSwarm {
	store := map[string]map[string]string{}
	s := &fakeSwarm{
		svc: &sidecar.Service{ID: "svc1", Name: "shop_db", Labels: map[string]string{sidecar.LabelFollow: "true"}, Replicas: 1,
			Image: "app:1", Volumes: []string{"shop_data"}},
		nodes: []sidecar.SwarmNode{{ID: "n1", Hostname: "node-1", Ready: true, Active: true}, {ID: "n2", Hostname: "node-2", Ready: true, Active: true},
			{ID: "n3", Hostname: "node-3", Ready: false, Active: true}},
		engines: map[string]*fakeEngine{"n1": newFake("node-1", store), "n2": newFake("node-2", store), "n3": newFake("node-3", store)},
		on:      "n1",
	}
	n1 := s.engines["n1"]
	n1.addVolume("shop_data", map[string]string{"log": "1\n2\n"})
	n1.addContainer("app", true, map[string]string{sidecar.LabelSwarmService: "shop_db"}, "shop_data")
	n1.images["app:1"] = true
	return s
}

func (s *fakeSwarm) engine(_ context.Context, n SwarmNode) (Engine, func(), error) {
	return s.engines[n.ID], func() {}, nil
}

// What a move refuses, before it stops anything.
func TestMoveServiceRefuses(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		change func(*fakeSwarm)
		o      ServiceMoveOptions
		want   string
	}{
		{func(s *fakeSwarm) { s.svc.Labels = nil }, ServiceMoveOptions{To: "node-2"}, "not labelled lifeboat.follow=true"},
		{func(s *fakeSwarm) { s.svc.Global = true }, ServiceMoveOptions{To: "node-2"}, "global"},
		{func(s *fakeSwarm) { s.svc.Replicas = 2 }, ServiceMoveOptions{To: "node-2"}, "2 replicas"},
		{func(s *fakeSwarm) { s.svc.Templated = []string{"data-{{.Task.Slot}}"} }, ServiceMoveOptions{To: "node-2"}, "templated"},
		{func(s *fakeSwarm) { s.svc.Volumes = nil }, ServiceMoveOptions{To: "node-2"}, "no named volume"},
		{func(s *fakeSwarm) { s.on = "" }, ServiceMoveOptions{To: "node-2"}, "no running task"},
		{nil, ServiceMoveOptions{To: "node-1"}, "runs on node-1 already"},
		{nil, ServiceMoveOptions{To: "n1"}, "runs on node-1 already"},
		{nil, ServiceMoveOptions{To: "node-9"}, "no node node-9"},
		{nil, ServiceMoveOptions{To: "node-3"}, "not ready"},
		{nil, ServiceMoveOptions{}, "--to"},
		{nil, ServiceMoveOptions{To: "node-2", From: "node-1"}, "--from a node"},
		{nil, ServiceMoveOptions{To: "node-2", MaxRounds: 2}, "--max-rounds needs --live"},
		{nil, ServiceMoveOptions{To: "node-2", Running: -time.Second}, "negative"},
		{func(s *fakeSwarm) { s.engines["n1"].addContainer("backup-tool", true, nil, "shop_data") }, ServiceMoveOptions{To: "node-2"}, "also used by container backup-tool"},
	} {
		s := newFakeSwarm()
		if c.change != nil {
			c.change(s)
		}
		c.o.Service = "shop_db"
		_, err := MoveService(ctx, s, s.engine, sc, &fakeReporter{}, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
		if len(s.calls) > 0 || !s.engines["n1"].byName("app").running {
			t.Errorf("%+v: a refused move changed the service: %v", c.o, s.calls)
		}
	}
}

// A move copies the volume, sends the image, stops the task, pins the
// service to the node; one that fails after the stop puts it back.
func TestMoveService(t *testing.T) {
	ctx := context.Background()
	s := newFakeSwarm()
	mv, err := MoveService(ctx, s, s.engine, sc, &fakeReporter{}, ServiceMoveOptions{Service: "shop_db", To: "node-2", Live: true, MaxRounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := s.engines["n1"], s.engines["n2"]
	if mv.From != "node-1" || mv.To != "node-2" || mv.Downtime <= 0 || len(mv.Migration.Rounds) < 2 || !slices.Equal(s.calls, []string{"scale 0", "place node-2"}) {
		t.Fatalf("the move: %+v, calls %v", mv, s.calls)
	}
	if n1.byName("app").running || n2.volumes["shop_data"] == nil || n2.volumes["shop_data"].files["log"] != "1\n2\n" || !n2.images["app:1"] {
		t.Fatalf("after the move: source app running %v, destination volume %+v, image %v", n1.byName("app").running, n2.volumes["shop_data"], n2.images)
	}

	// The task does not run on the node: the service is put back.
	s = newFakeSwarm()
	s.failPlace = true
	_, err = MoveService(ctx, s, s.engine, sc, &fakeReporter{}, ServiceMoveOptions{Service: "shop_db", To: "node-2", Running: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "put back on node-1") || !strings.Contains(err.Error(), "no suitable node") ||
		!slices.Equal(s.calls, []string{"scale 0", "place node-2", "place node-1"}) || !s.engines["n1"].byName("app").running || s.placed != "n1" {
		t.Fatalf("a task that does not run: %v, calls %v", err, s.calls)
	}

	// The copy fails after the stop: the service is put back too.
	s = newFakeSwarm()
	s.engines["n2"].failRestore = true
	_, err = MoveService(ctx, s, s.engine, sc, &fakeReporter{}, ServiceMoveOptions{Service: "shop_db", To: "node-2"})
	if err == nil || !slices.Equal(s.calls, []string{"scale 0", "place node-1"}) || !s.engines["n1"].byName("app").running || s.placed != "n1" {
		t.Fatalf("a copy that fails: %v, calls %v", err, s.calls)
	}
}

// Status: the node the service runs on, its volume's newest snapshot from
// there, and a newer one from elsewhere.
func TestServiceStatus(t *testing.T) {
	s := newFakeSwarm()
	s.on = "n2"
	s.svc.Pinned = true
	at := func(host string, age time.Duration) *repository.Snapshot {
		return &repository.Snapshot{Host: host, Time: time.Now().Add(-age), Volume: &repository.VolumeInfo{Name: "shop_data"}}
	}
	old2, new2, newer1 := at("node-2", 3*time.Hour), at("node-2", 2*time.Hour), at("node-1", time.Hour)
	other := at("node-2", time.Minute)
	other.Volume.Name = "other"
	broken := at("node-2", time.Minute)
	broken.Incomplete = true
	states, err := ServiceStatus(context.Background(), s, []*repository.Snapshot{old2, newer1, new2, other, broken})
	if err != nil || len(states) != 1 {
		t.Fatal(states, err)
	}
	st := states[0]
	if !slices.Equal(st.Nodes, []string{"node-2"}) || !st.Pinned || len(st.Volumes) != 1 || st.Volumes[0].Node != new2 || st.Volumes[0].Elsewhere != newer1 {
		t.Fatalf("status: %+v", st)
	}
}

// Recover: refused while the service runs, while its node is up, or with
// no snapshot from there; else its volume is restored from the newest
// snapshot taken on the node that went down, on the first node that has
// its image, and the service pinned there.
func TestRecoverService(t *testing.T) {
	ctx := context.Background()
	down := func() *fakeSwarm {
		s := newFakeSwarm()
		s.nodes[0].Ready, s.nodes[2].Ready = false, true // node-1 is down; node-2 and node-3 are up
		s.on = ""
		s.tasksRan = "n1"
		return s
	}
	snap := func(id byte, host string, age time.Duration) *repository.Snapshot {
		s := &repository.Snapshot{Host: host, Time: time.Now().Add(-age), Volume: &repository.VolumeInfo{Name: "shop_data"}}
		s.ID[0] = id
		return s
	}
	older, newest, elsewhere := snap(1, "node-1", 2*time.Hour), snap(2, "node-1", time.Hour), snap(3, "node-2", time.Minute)
	snaps := []*repository.Snapshot{older, newest, elsewhere}

	for _, c := range []struct {
		change func(*fakeSwarm)
		snaps  []*repository.Snapshot
		o      ServiceRecoverOptions
		want   string
	}{
		{func(s *fakeSwarm) { s.on = "n1" }, snaps, ServiceRecoverOptions{}, "runs on node-1"},
		{func(s *fakeSwarm) { s.nodes[0].Ready = true }, snaps, ServiceRecoverOptions{}, "is up"},
		{nil, []*repository.Snapshot{elsewhere}, ServiceRecoverOptions{}, "no snapshot of volume shop_data from node node-1"},
		{nil, snaps, ServiceRecoverOptions{To: "node-1"}, "not ready"},
		{nil, snaps, ServiceRecoverOptions{To: "node-9"}, "no node node-9"},
		{func(s *fakeSwarm) { s.svc.Labels = nil }, snaps, ServiceRecoverOptions{}, "not labelled"},
	} {
		s := down()
		if c.change != nil {
			c.change(s)
		}
		c.o.Service = "shop_db"
		_, err := RecoverService(ctx, s, s.engine, sc, &fakeReporter{}, c.snaps, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
		if len(s.calls) > 0 {
			t.Errorf("%+v: a refused recovery changed the service: %v", c.o, s.calls)
		}
	}

	// node-3 has the image, node-2 not: node-3 it is.
	s := down()
	s.engines["n3"].images["app:1"] = true
	s.engines["n1"].store[newest.ID.String()] = map[string]string{"log": "1\n2\n3\n"}
	rec, err := RecoverService(ctx, s, s.engine, sc, &fakeReporter{}, snaps, ServiceRecoverOptions{Service: "shop_db"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.From != "node-1" || rec.To != "node-3" || len(rec.Volumes) != 1 || rec.Volumes[0].Snapshot != newest ||
		!slices.Equal(s.calls, []string{"scale 0", "place node-3"}) {
		t.Fatalf("recovery %+v, calls %v", rec, s.calls)
	}
	if v := s.engines["n3"].volumes["shop_data"]; v == nil || v.files["log"] != "1\n2\n3\n" {
		t.Fatalf("node-3's volume: %+v", v)
	}

	// Its task does not run there: its spec is put back.
	s = down()
	s.failPlace = true
	s.engines["n1"].store[newest.ID.String()] = map[string]string{"log": "1\n"}
	_, err = RecoverService(ctx, s, s.engine, sc, &fakeReporter{}, snaps, ServiceRecoverOptions{Service: "shop_db", To: "node-2", Running: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "put back") || !slices.Equal(s.calls, []string{"scale 0", "place node-2", "reset"}) {
		t.Fatalf("a recovery whose task does not run: %v, calls %v", err, s.calls)
	}
}

// --from moves the followed services that run on the node, and only them.
func TestMoveServicesFrom(t *testing.T) {
	ctx := context.Background()
	s := newFakeSwarm()
	moves, err := MoveServicesFrom(ctx, s, s.engine, sc, &fakeReporter{}, ServiceMoveOptions{From: "node-2", To: "node-1"})
	if err != nil || len(moves) != 0 || len(s.calls) != 0 {
		t.Fatalf("off a node that runs none: %v %v %v", moves, err, s.calls)
	}
	if _, err := MoveServicesFrom(ctx, s, s.engine, sc, &fakeReporter{}, ServiceMoveOptions{From: "node-9", To: "node-1"}); err == nil || !strings.Contains(err.Error(), "no node node-9") {
		t.Fatalf("off a node that is not there: %v", err)
	}
	moves, err = MoveServicesFrom(ctx, s, s.engine, sc, &fakeReporter{}, ServiceMoveOptions{From: "node-1", To: "node-2"})
	if err != nil || len(moves) != 1 || moves[0].Service != "shop_db" || moves[0].To != "node-2" || !slices.Equal(s.calls, []string{"scale 0", "place node-2"}) {
		t.Fatalf("off node-1: %+v %v %v", moves, err, s.calls)
	}
	// A move that fails is reported; the error names it.
	s = newFakeSwarm()
	s.engines["n2"].failRestore = true
	if _, err := MoveServicesFrom(ctx, s, s.engine, sc, &fakeReporter{}, ServiceMoveOptions{From: "node-1", To: "node-2"}); err == nil || !strings.Contains(err.Error(), "1 service of node-1 could not be moved") || !strings.Contains(err.Error(), "shop_db:") {
		t.Fatalf("a failed move off node-1: %v", err)
	}
}

// A node's volumes with their newest snapshot taken there and the service
// whose task uses them.
func TestLastSnapshots(t *testing.T) {
	s := newFakeSwarm()
	n1 := s.engines["n1"]
	n1.byName("app").labels = map[string]string{sidecar.LabelSwarmService: "shop_db"}
	n1.addVolume("cache", nil)
	at := func(host, volume string, age time.Duration) *repository.Snapshot {
		return &repository.Snapshot{Host: host, Time: time.Now().Add(-age), Volume: &repository.VolumeInfo{Name: volume}}
	}
	mine, older, other := at("node-1", "shop_data", time.Hour), at("node-1", "shop_data", 2*time.Hour), at("node-2", "shop_data", time.Minute)
	vols, err := LastSnapshots(context.Background(), n1, []*repository.Snapshot{older, other, mine}, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(vols, func(a, b VolumeLastSnapshot) int { return strings.Compare(a.Volume, b.Volume) })
	if len(vols) != 2 || vols[0].Volume != "cache" || vols[0].Last != nil || vols[0].Service != "" ||
		vols[1].Volume != "shop_data" || vols[1].Last != mine || vols[1].Service != "shop_db" {
		t.Fatalf("last snapshots: %+v", vols)
	}
}
