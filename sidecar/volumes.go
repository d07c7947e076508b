package sidecar

import (
	"context"
	"fmt"
	"sort"
	"strconv"
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

// AnonymousLabel marks the volumes that the engine created for a container
// without a name (since API 1.42); `docker volume prune` removes only those
// unless --all.
const AnonymousLabel = "com.docker.volume.anonymous"

// PruneTakesNamed reports whether `docker volume prune` on an engine of
// API version apiVersion removes named volumes too: always before API 1.42
// (every dangling local volume goes, and anonymous volumes carry no label
// there), and with all (--all) since.
func PruneTakesNamed(apiVersion string, all bool) bool {
	return all || versionLess(apiVersion, "1.42")
}

// versionLess compares API versions such as "1.41" and "1.42" (numerically,
// part by part); an unparsable version counts as old, so the safety net
// then covers more volumes, never fewer.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		var x, y int
		if i < len(pa) {
			n, err := strconv.Atoi(pa[i])
			if err != nil {
				return true
			}
			x = n
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// PruneCandidates lists exactly the volumes `docker volume prune` would
// remove on this engine, by the rule of its negotiated API version
// (PruneTakesNamed): dangling volumes of the local driver, anonymous ones
// only where the engine prunes only those, narrowed by label and not-label
// filters (KEY or KEY=VALUE).
func (e *Engine) PruneCandidates(ctx context.Context, all bool, labels, notLabels []string) ([]Volume, error) {
	f := client.Filters{}.Add("dangling", "true").Add("driver", "local")
	if len(labels) > 0 {
		f = f.Add("label", labels...)
	}
	if !PruneTakesNamed(e.c.ClientVersion(), all) {
		f = f.Add("label", AnonymousLabel)
	}
	res, err := e.c.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	var out []Volume
	for _, v := range res.Items {
		if excluded(v.Labels, notLabels) {
			continue
		}
		out = append(out, fromAPI(v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// APIVersion is the API version negotiated with the engine.
func (e *Engine) APIVersion() string { return e.c.ClientVersion() }

func excluded(labels map[string]string, notLabels []string) bool {
	for _, nl := range notLabels {
		k, v, hasValue := strings.Cut(nl, "=")
		if got, ok := labels[k]; ok && (!hasValue || got == v) {
			return true
		}
	}
	return false
}

// RemoveVolume removes a volume.
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	if _, err := e.c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{}); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}
