package sidecar

import (
	"testing"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
)

func TestPinsToNode(t *testing.T) {
	for c, want := range map[string]bool{
		"node.id==abc": true, "node.hostname==node-1": true, "node.hostname == node-1": true,
		"node.hostname!=node-1": false, "node.role==manager": false, "node.labels.disk==ssd": false, "engine.labels.x==y": false, "": false,
	} {
		if got := PinsToNode(c); got != want {
			t.Errorf("PinsToNode(%q) = %v", c, got)
		}
	}
}

// What a move reads off a service's spec.
func TestServiceOf(t *testing.T) {
	two := uint64(2)
	spec := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "db", Labels: map[string]string{LabelFollow: "true"}},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}},
		TaskTemplate: swarm.TaskSpec{Placement: &swarm.Placement{Constraints: []string{"node.role==worker", "node.hostname == n1"}},
			ContainerSpec: &swarm.ContainerSpec{Image: "pg:15@sha256:abc", Mounts: []mount.Mount{
				{Type: mount.TypeVolume, Source: "data"}, {Type: mount.TypeVolume, Source: "data-{{.Task.Slot}}"},
				{Type: mount.TypeVolume}, {Type: mount.TypeBind, Source: "/etc"}}}}}
	s := serviceOf(swarm.Service{ID: "x", Spec: spec})
	if !s.Follows() || s.Global || s.Replicas != 2 || !s.Pinned || s.Image != "pg:15@sha256:abc" ||
		len(s.Volumes) != 1 || s.Volumes[0] != "data" || len(s.Templated) != 1 {
		t.Fatalf("%+v", s)
	}
	spec.TaskTemplate.Placement.Constraints = []string{"node.role==worker"}
	spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	if s := serviceOf(swarm.Service{Spec: spec}); s.Pinned || !s.Global {
		t.Fatalf("%+v", s)
	}
}
