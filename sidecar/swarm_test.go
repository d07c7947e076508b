package sidecar

import "testing"

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
