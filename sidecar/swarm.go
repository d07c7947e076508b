package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Labels of swarm services.
const (
	// LabelFollow "true" on a service: lifeboat follows it, moving its
	// volumes with it between nodes (service move, service status).
	LabelFollow = "lifeboat.follow"
	// LabelPlacement on a service: the placement constraint lifeboat
	// added when it moved the service, replaced by the next move.
	LabelPlacement = "org.lifeboat.placement"
	// LabelSwarmService: the swarm puts its service's name on a task's
	// container.
	LabelSwarmService = "com.docker.swarm.service.name"
)

// Service is a swarm service as a move sees it.
type Service struct {
	ID, Name string
	Labels   map[string]string
	// Global services run a task on every node; replicated ones Replicas.
	Global   bool
	Replicas uint64
	// Image is its tasks' image, as the spec names it.
	Image string
	// Volumes are the named volumes its tasks mount (node-local copies).
	Volumes []string
	// Templated volume sources ({{.Task.Slot}}...) cannot be moved.
	Templated []string
	// Pinned: a placement constraint names one node (PinsToNode), so when
	// that node fails its task waits instead of starting elsewhere.
	Pinned bool
	spec   swarm.ServiceSpec
}

// Follows reports whether the service carries lifeboat.follow=true.
func (s *Service) Follows() bool { return s.Labels[LabelFollow] == "true" }

// SwarmTask is one task of a service.
type SwarmTask struct {
	ID, NodeID   string
	State        string // its actual state: running, shutdown, ...
	DesiredState string
	Message      string // what the swarm last said of it (an error, or why it waits)
	Created      time.Time
}

// SwarmNode is one node of the swarm.
type SwarmNode struct {
	ID, Hostname, Addr string
	Ready, Active      bool // its state is ready; its availability active
	Manager            bool
}

// Service reads the service named name (or with that ID) from a manager.
func (e *Engine) Service(ctx context.Context, name string) (*Service, error) {
	res, err := e.c.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", name, err)
	}
	return serviceOf(res.Service), nil
}

// FollowedServices lists the services labelled lifeboat.follow=true.
func (e *Engine) FollowedServices(ctx context.Context) ([]*Service, error) {
	res, err := e.c.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", LabelFollow+"=true")})
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	var out []*Service
	for _, s := range res.Items {
		out = append(out, serviceOf(s))
	}
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func serviceOf(s swarm.Service) *Service {
	svc := &Service{ID: s.ID, Name: s.Spec.Name, Labels: s.Spec.Labels, spec: s.Spec}
	switch m := s.Spec.Mode; {
	case m.Replicated != nil && m.Replicated.Replicas != nil:
		svc.Replicas = *m.Replicated.Replicas
	case m.Replicated != nil:
		svc.Replicas = 1
	default:
		svc.Global = true
	}
	if p := s.Spec.TaskTemplate.Placement; p != nil {
		svc.Pinned = slices.ContainsFunc(p.Constraints, PinsToNode)
	}
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		svc.Image = cs.Image
		for _, m := range cs.Mounts {
			switch {
			case m.Type != mount.TypeVolume || m.Source == "":
			case strings.Contains(m.Source, "{{"):
				svc.Templated = append(svc.Templated, m.Source)
			default:
				svc.Volumes = append(svc.Volumes, m.Source)
			}
		}
	}
	return svc
}

// ServiceTasks lists a service's tasks, current and past.
func (e *Engine) ServiceTasks(ctx context.Context, serviceID string) ([]SwarmTask, error) {
	res, err := e.c.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", serviceID)})
	if err != nil {
		return nil, fmt.Errorf("listing tasks: %w", err)
	}
	out := make([]SwarmTask, 0, len(res.Items))
	for _, t := range res.Items {
		msg := t.Status.Err
		if msg == "" {
			msg = t.Status.Message
		}
		out = append(out, SwarmTask{ID: t.ID, NodeID: t.NodeID, State: string(t.Status.State), DesiredState: string(t.DesiredState), Message: msg,
			Created: t.CreatedAt})
	}
	return out, nil
}

// SwarmNodes lists the swarm's nodes.
func (e *Engine) SwarmNodes(ctx context.Context) ([]SwarmNode, error) {
	res, err := e.c.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out := make([]SwarmNode, 0, len(res.Items))
	for _, n := range res.Items {
		out = append(out, SwarmNode{ID: n.ID, Hostname: n.Description.Hostname, Addr: n.Status.Addr,
			Ready: n.Status.State == swarm.NodeStateReady, Active: n.Spec.Availability == swarm.NodeAvailabilityActive,
			Manager: n.Spec.Role == swarm.NodeRoleManager})
	}
	slices.SortFunc(out, func(a, b SwarmNode) int { return strings.Compare(a.Hostname, b.Hostname) })
	return out, nil
}

// ScaleService sets the service's replicas, the rest of its spec as svc
// read it.
func (e *Engine) ScaleService(ctx context.Context, svc *Service, replicas uint64) error {
	return e.updateService(ctx, svc, func(spec *swarm.ServiceSpec) {
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &replicas}
	})
}

// PlaceService pins the service to node with svc's replicas, the rest of
// its spec as svc read it: constraints that pin it to a node (node.id==,
// node.hostname==, as lifeboat's own last one) are replaced by one on the
// node's id, which LabelPlacement records; others stay.
func (e *Engine) PlaceService(ctx context.Context, svc *Service, node SwarmNode) error {
	constraint := "node.id==" + node.ID
	return e.updateService(ctx, svc, func(spec *swarm.ServiceSpec) {
		if spec.TaskTemplate.Placement == nil {
			spec.TaskTemplate.Placement = &swarm.Placement{}
		}
		p := spec.TaskTemplate.Placement
		p.Constraints = slices.DeleteFunc(p.Constraints, PinsToNode)
		p.Constraints = append(p.Constraints, constraint)
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[LabelPlacement] = constraint
	})
}

// PinsToNode reports whether a placement constraint names one node: its
// id or hostname equal to a value.
func PinsToNode(constraint string) bool {
	key, _, ok := strings.Cut(strings.ReplaceAll(constraint, " ", ""), "==")
	return ok && (key == "node.id" || key == "node.hostname")
}

// ResetService puts back the spec svc read (replicas and placement
// included), as it was before a move changed it.
func (e *Engine) ResetService(ctx context.Context, svc *Service) error {
	return e.updateService(ctx, svc, func(*swarm.ServiceSpec) {})
}

// updateService writes a changed copy of svc's spec at the service's
// current version.
func (e *Engine) updateService(ctx context.Context, svc *Service, change func(*swarm.ServiceSpec)) error {
	cur, err := e.c.ServiceInspect(ctx, svc.ID, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	var spec swarm.ServiceSpec // a deep copy: svc keeps what it read
	b, err := json.Marshal(svc.spec)
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil {
		return err
	}
	change(&spec)
	if _, err := e.c.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: cur.Service.Version, Spec: spec}); err != nil {
		return fmt.Errorf("updating service %s: %w", svc.Name, err)
	}
	return nil
}
