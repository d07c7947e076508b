package sidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Labels lifeboat puts on a container it created like another.
const (
	LabelUpgradedFrom = "org.lifeboat.upgraded-from" // by upgrade: the old container's id
	LabelMigratedFrom = "org.lifeboat.migrated-from" // by migrate --start: the source engine and container id
	oldSuffix         = "-lifeboat-old"
)

// OldName is the name the previous container gets during an upgrade.
func OldName(name string) string { return name + oldSuffix }

// AppContainer is what an upgrade needs to know about a container.
type AppContainer struct {
	ID, Name, Image string
	Running         bool
	Volumes         map[string]string // volume name -> mount path
	Compose         bool              // managed by docker compose
	inspect         container.InspectResponse
}

// VolumeNames lists the container's named volumes, sorted.
func (a *AppContainer) VolumeNames() []string {
	names := make([]string, 0, len(a.Volumes))
	for v := range a.Volumes {
		names = append(names, v)
	}
	slices.Sort(names)
	return names
}

// InspectApp describes a container for an upgrade.
func (e *Engine) InspectApp(ctx context.Context, name string) (*AppContainer, error) {
	res, err := e.c.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	ins := res.Container
	a := &AppContainer{ID: ins.ID, Name: strings.TrimPrefix(ins.Name, "/"), Image: ins.Config.Image,
		Running: ins.State != nil && ins.State.Running, Volumes: map[string]string{}, inspect: ins}
	for _, m := range ins.Mounts {
		if m.Type == "volume" && m.Name != "" {
			a.Volumes[m.Name] = m.Destination
		}
	}
	_, a.Compose = ins.Config.Labels["com.docker.compose.project"]
	return a, nil
}

// ImageExists reports whether the engine has an image (no registry is
// consulted).
func (e *Engine) ImageExists(ctx context.Context, ref string) bool {
	_, err := e.c.ImageInspect(ctx, ref)
	return err == nil
}

// CreateLike creates a container like app, with the same configuration
// (command, environment, ports, networks, labels, restart policy, health
// check) but image, the volumes renamed by volumes (old name -> new name)
// and the labels added, under app's name: on app's engine once app has been
// renamed away, or on another engine that has the image and the networks.
func (e *Engine) CreateLike(ctx context.Context, app *AppContainer, image string, volumes, labels map[string]string) (string, error) {
	cfg := *app.inspect.Config
	cfg.Image = image
	// What the container inherited from its old image must come from the
	// new image now: only settings the user gave are carried over.
	if img, err := e.c.ImageInspect(ctx, app.inspect.Image); err == nil && img.Config != nil {
		old := img.Config
		if slices.Equal(cfg.Entrypoint, old.Entrypoint) {
			cfg.Entrypoint = nil
		}
		if slices.Equal(cfg.Cmd, old.Cmd) {
			cfg.Cmd = nil
		}
		if cfg.WorkingDir == old.WorkingDir {
			cfg.WorkingDir = ""
		}
		if cfg.User == old.User {
			cfg.User = ""
		}
		var env []string
		for _, kv := range cfg.Env {
			if !slices.Contains(old.Env, kv) {
				env = append(env, kv)
			}
		}
		cfg.Env = env
		if old.Healthcheck != nil && cfg.Healthcheck != nil && slices.Equal(cfg.Healthcheck.Test, old.Healthcheck.Test) {
			cfg.Healthcheck = nil
		}
		for k, v := range old.Labels {
			if cfg.Labels[k] == v {
				delete(cfg.Labels, k)
			}
		}
	}
	// The engine gives a container without a hostname of its own its
	// short id: the new one gets its own, not the old one's.
	shortID := app.ID[:min(12, len(app.ID))]
	if cfg.Hostname == shortID {
		cfg.Hostname = ""
	}
	all := maps.Clone(cfg.Labels) // compose labels included, so that compose still knows it
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, labels)
	cfg.Labels = all
	host := *app.inspect.HostConfig
	// Volumes are mounted by name at their old paths; binds of volumes
	// (-v NAME:PATH) and volume mounts are replaced by those, so that each
	// is mounted once.
	var binds []string
	for _, b := range host.Binds {
		if src, _, _ := strings.Cut(b, ":"); app.Volumes[src] == "" {
			binds = append(binds, b)
		}
	}
	host.Binds = binds
	var mounts []mount.Mount
	for _, m := range host.Mounts {
		if m.Type != mount.TypeVolume {
			mounts = append(mounts, m)
		}
	}
	for old, dest := range app.Volumes {
		src := volumes[old]
		if src == "" {
			src = old
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: src, Target: dest})
	}
	host.Mounts = mounts
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	if app.inspect.NetworkSettings != nil {
		for name, ep := range app.inspect.NetworkSettings.Networks {
			netCfg.EndpointsConfig[name] = endpointLike(ep, shortID)
		}
	}
	created, err := e.c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: app.Name, Config: &cfg, HostConfig: &host, NetworkingConfig: netCfg})
	if err != nil {
		return "", fmt.Errorf("create container %s from %s: %w", app.Name, image, err)
	}
	return created.ID, nil
}

// endpointLike keeps what the user gave a container on one network: its
// static addresses (IPAM config), aliases, links and driver options; the
// alias the engine derived from the old container's id is left out.
func endpointLike(ep *network.EndpointSettings, oldShortID string) *network.EndpointSettings {
	if ep == nil {
		return &network.EndpointSettings{}
	}
	var aliases []string
	for _, a := range ep.Aliases {
		if a != oldShortID {
			aliases = append(aliases, a)
		}
	}
	out := &network.EndpointSettings{Aliases: aliases, Links: ep.Links, DriverOpts: ep.DriverOpts}
	if ep.IPAMConfig != nil {
		ipam := *ep.IPAMConfig
		out.IPAMConfig = &ipam
	}
	return out
}

// Rename renames a container.
func (e *Engine) Rename(ctx context.Context, id, name string) error {
	if _, err := e.c.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name}); err != nil {
		return fmt.Errorf("rename container to %s: %w", name, err)
	}
	return nil
}

// Start starts a container; Stop stops one; Remove removes one.
func (e *Engine) Start(ctx context.Context, id string) error {
	_, err := e.c.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return err
}

// Stop stops a container with its configured timeout, after its pre-stop
// hook (LabelPreStop), if it has one; the stop itself is reported as an
// ActionStop event.
func (e *Engine) Stop(ctx context.Context, id string, report Report) error {
	res, err := e.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(res.Container.Name, "/")
	if res.Container.State != nil && res.Container.State.Running && res.Container.Config != nil {
		e.preStop(ctx, appContainer{id: id, name: name, labels: res.Container.Config.Labels}, "", report)
	}
	emit(report, messages.Event{Action: ActionStop, Container: name, Message: "stopping container " + name})
	_, err = e.c.ContainerStop(ctx, id, client.ContainerStopOptions{})
	return err
}

// Remove removes a container (forcefully).
func (e *Engine) Remove(ctx context.Context, id string) error {
	_, err := e.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
	return err
}

// LastLogs returns up to n of a container's last log lines (stdout and
// stderr), for a report on why it failed; nil if they cannot be read.
func (e *Engine) LastLogs(ctx context.Context, id string, n int) []string {
	rc, err := e.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n)})
	if err != nil {
		return nil
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil && out.Len() == 0 {
		return nil
	}
	text := strings.TrimRight(out.String(), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// ErrNotHealthy: a new container did not become healthy (or stopped).
var ErrNotHealthy = errors.New("the new container did not become healthy")

// WaitHealthy waits until a container with a health check is healthy, or
// one without stays running for settle; it fails early when it stops or
// turns unhealthy, and at timeout.
func (e *Engine) WaitHealthy(ctx context.Context, id string, timeout, settle time.Duration) error {
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for {
		res, err := e.c.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return err
		}
		st := res.Container.State
		switch {
		case st == nil || !st.Running:
			code := 0
			if st != nil {
				code = st.ExitCode
			}
			return fmt.Errorf("%w: it exited with code %d", ErrNotHealthy, code)
		case st.Restarting || res.Container.RestartCount > 0:
			// Its restart policy brought it back: it did exit.
			return fmt.Errorf("%w: it exited with code %d and was restarted %d times", ErrNotHealthy, st.ExitCode, res.Container.RestartCount)
		case st.Health != nil && st.Health.Status == container.Healthy:
			return nil
		case st.Health != nil && st.Health.Status == container.Unhealthy:
			why := ""
			if n := len(st.Health.Log); n > 0 {
				last := st.Health.Log[n-1]
				why = fmt.Sprintf(" (exit %d: %s)", last.ExitCode, strings.TrimSpace(last.Output))
			}
			return fmt.Errorf("%w: its health check failed%s", ErrNotHealthy, why)
		case st.Health == nil && time.Since(start) >= settle:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%w within %s", ErrNotHealthy, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
