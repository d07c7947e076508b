package sidecar

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
)

// Selection says which volumes a command works on. The fields combine:
// named volumes, volumes with all the labels, the volumes mounted by a
// container, dangling ones (used by no container), or all.
type Selection struct {
	Names     []string
	Labels    []string // "key" or "key=value"
	Container string
	Dangling  bool
	All       bool
}

// Volume is a named volume with what a snapshot records about it.
type Volume struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Labels     map[string]string `json:"labels,omitempty"`
	DriverOpts map[string]string `json:"driver_options,omitempty"`
	Mountpoint string            `json:"-"`
}

// ErrUnknownVolume names a volume the engine does not have.
type ErrUnknownVolume struct{ Name, Host string }

func (e ErrUnknownVolume) Error() string {
	return fmt.Sprintf("no volume %q on the Docker engine at %s", e.Name, e.Host)
}

func fromAPI(v volume.Volume) Volume {
	return Volume{Name: v.Name, Driver: v.Driver, Labels: v.Labels, DriverOpts: v.Options, Mountpoint: v.Mountpoint}
}

// Volumes resolves a selection, sorted by name, each volume once.
func (e *Engine) Volumes(ctx context.Context, s Selection) ([]Volume, error) {
	found := map[string]Volume{}
	list := func(f client.Filters) error {
		res, err := e.c.VolumeList(ctx, client.VolumeListOptions{Filters: f})
		if err != nil {
			return fmt.Errorf("list volumes: %w", err)
		}
		for _, v := range res.Items {
			found[v.Name] = fromAPI(v)
		}
		return nil
	}
	if s.All {
		if err := list(client.Filters{}); err != nil {
			return nil, err
		}
	}
	if len(s.Labels) > 0 {
		if err := list(client.Filters{}.Add("label", s.Labels...)); err != nil {
			return nil, err
		}
	}
	if s.Dangling {
		if err := list(client.Filters{}.Add("dangling", "true")); err != nil {
			return nil, err
		}
	}
	for _, name := range s.Names {
		res, err := e.c.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if err != nil {
			if strings.Contains(strings.ToLower(err.Error()), "no such volume") {
				return nil, ErrUnknownVolume{Name: name, Host: e.host}
			}
			return nil, fmt.Errorf("volume %s: %w", name, err)
		}
		found[name] = fromAPI(res.Volume)
	}
	if s.Container != "" {
		res, err := e.c.ContainerInspect(ctx, s.Container, client.ContainerInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", s.Container, err)
		}
		for _, m := range res.Container.Mounts {
			if m.Type == "volume" && m.Name != "" {
				vr, err := e.c.VolumeInspect(ctx, m.Name, client.VolumeInspectOptions{})
				if err != nil {
					return nil, fmt.Errorf("volume %s of container %s: %w", m.Name, s.Container, err)
				}
				found[m.Name] = fromAPI(vr.Volume)
			}
		}
	}
	out := make([]Volume, 0, len(found))
	for _, v := range found {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
