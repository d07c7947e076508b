package volumes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// VolumeState is a volume of an engine as a page about protection shows
// it: who uses it, whether their labels make a backup's copy consistent,
// and which jobs back it up.
type VolumeState struct {
	Name   string            `json:"name"`
	Driver string            `json:"driver"`
	Labels map[string]string `json:"labels,omitempty"`
	Users  []UserState       `json:"users"`
	Jobs   []string          `json:"jobs"` // the jobs whose selection holds it
}

// UserState is a running container that uses a volume. Consistency says
// how a backup makes its copy consistent (sidecar.Consistency), "" when
// nothing does.
type UserState struct {
	Name        string `json:"name"`
	Consistency string `json:"consistency,omitempty"`
}

// InventoryEngine is what Inventory asks of an engine: its volumes, and
// the running users of all of them at once (sidecar.Engine is one).
type InventoryEngine interface {
	Volumes(ctx context.Context, sel sidecar.Selection) ([]sidecar.Volume, error)
	RunningUsersByVolume(ctx context.Context) (map[string][]sidecar.User, error)
}

// Inventory lists every volume of e with its running users, and the
// names of the jobs (by their selections) that back each up. It asks the
// engine 2 + len(jobs) questions, however many volumes it has.
func Inventory(ctx context.Context, e InventoryEngine, jobs map[string]Selection) ([]VolumeState, error) {
	all, err := e.Volumes(ctx, sidecar.Selection{All: true})
	if err != nil {
		return nil, err
	}
	covered := map[string][]string{}
	for name, sel := range jobs {
		vs, err := e.Volumes(ctx, sel)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		for _, v := range vs {
			covered[v.Name] = append(covered[v.Name], name)
		}
	}
	users, err := e.RunningUsersByVolume(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VolumeState, 0, len(all))
	for _, v := range all {
		st := VolumeState{Name: v.Name, Driver: v.Driver, Labels: v.Labels, Users: []UserState{}, Jobs: covered[v.Name]}
		slices.Sort(st.Jobs)
		if st.Jobs == nil {
			st.Jobs = []string{}
		}
		for _, u := range users[v.Name] {
			st.Users = append(st.Users, UserState{Name: u.Name, Consistency: sidecar.Consistency(u.Labels)})
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b VolumeState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// VolumeLastSnapshot is a volume with the swarm service whose task uses it
// ("" for none) and its newest complete snapshot taken on a host.
type VolumeLastSnapshot struct {
	Volume, Service string
	Last            *repository.Snapshot // nil: none
}

// LastSnapshots lists every volume of e with the service that uses it and
// its newest complete snapshot among snaps taken on host: what a node's
// metrics say is protected there. It asks the engine two questions.
func LastSnapshots(ctx context.Context, e InventoryEngine, snaps []*repository.Snapshot, host string) ([]VolumeLastSnapshot, error) {
	all, err := e.Volumes(ctx, sidecar.Selection{All: true})
	if err != nil {
		return nil, err
	}
	users, err := e.RunningUsersByVolume(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VolumeLastSnapshot, 0, len(all))
	for _, v := range all {
		vs := VolumeLastSnapshot{Volume: v.Name, Last: newestOf(snaps, v.Name, host)}
		for _, u := range users[v.Name] {
			if s := u.Labels[sidecar.LabelSwarmService]; s != "" {
				vs.Service = s
				break
			}
		}
		out = append(out, vs)
	}
	return out, nil
}
