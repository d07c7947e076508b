package sidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// Labels on application containers that ask for a consistent copy.
const (
	LabelStop  = "lifeboat.stop"  // "true": stop while its volumes are backed up
	LabelPause = "lifeboat.pause" // "true": pause (freeze) instead
	LabelPre   = "lifeboat.pre"   // a shell command run in the container first
	LabelPost  = "lifeboat.post"  // a shell command run after, also after a failure
	// LabelPreStop is a shell command run in the container before lifeboat
	// stops it, whatever for (a backup, a migration, an upgrade, a write
	// into its volume), so that the application writes while it still runs
	// what it would write as it shuts down (PostgreSQL: a CHECKPOINT). A
	// live migration or an upgrade runs it before its last round copied
	// while the container runs, so that those writes travel before the
	// stop; the stop runs it again. One that fails is a warning.
	LabelPreStop     = "lifeboat.pre-stop"
	LabelHookTimeout = "lifeboat.hook-timeout" // for pre, post and pre-stop, e.g. "2m" (default 5m)
)

const defaultHookTimeout = 5 * time.Minute

// ErrHook reports a pre hook that failed: the volume is not backed up.
var ErrHook = errors.New("pre hook failed")

// Actions of consistency events.
const (
	ActionInUse    = "in_use"      // a running user without consistency labels (a warning)
	ActionStop     = "stop"        // stopping a container
	ActionStart    = "start"       // starting it again (Down: how long it was stopped)
	ActionPause    = "pause"       // freezing a container
	ActionUnpause  = "unpause"     // thawing it (Down: how long it was frozen)
	ActionHook     = "hook"        // running a pre or post hook
	ActionHookLine = "hook_output" // one line a hook printed
	ActionFailed   = "failed"      // an undo step failed (a warning)
)

// Report receives the events of the consistency handling.
type Report func(messages.Event)

// emit stamps an event and hands it to report.
func emit(report Report, ev messages.Event) {
	ev.Time = time.Now()
	ev.DownSecs = ev.Down.Seconds()
	report(ev)
}

// appContainer is a running container that uses a volume.
type appContainer struct {
	id, name string
	labels   map[string]string
}

// volumeUsers lists the containers that use a volume (running ones only,
// unless all), lifeboat's own sidecars left out.
func (e *Engine) volumeUsers(ctx context.Context, volume string, all bool) ([]appContainer, error) {
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: client.Filters{}.Add("volume", volume)})
	if err != nil {
		return nil, fmt.Errorf("containers using %s: %w", volume, err)
	}
	var out []appContainer
	for _, c := range res.Items {
		if _, sidecar := c.Labels[LabelSidecar]; sidecar {
			continue
		}
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out = append(out, appContainer{id: c.ID, name: name, labels: c.Labels})
	}
	return out, nil
}

// VolumeUsers names the containers, running or not, that use a volume
// (lifeboat's own sidecars left out).
func (e *Engine) VolumeUsers(ctx context.Context, volume string) ([]string, error) {
	users, err := e.volumeUsers(ctx, volume, true)
	var names []string
	for _, u := range users {
		names = append(names, u.name)
	}
	return names, err
}

func (e *Engine) runningUsers(ctx context.Context, volume string) ([]appContainer, error) {
	return e.volumeUsers(ctx, volume, false)
}

// User is a container that uses a volume.
type User struct {
	ID, Name string
	Labels   map[string]string
}

// RunningUsers lists the running containers that use a volume (lifeboat's
// own sidecars left out).
func (e *Engine) RunningUsers(ctx context.Context, volume string) ([]User, error) {
	users, err := e.runningUsers(ctx, volume)
	out := make([]User, len(users))
	for i, u := range users {
		out[i] = User{ID: u.id, Name: u.name, Labels: u.labels}
	}
	return out, err
}

// RunningUsersByVolume lists the running containers that use each named
// volume, in one call to the engine (lifeboat's own sidecars left out).
func (e *Engine) RunningUsersByVolume(ctx context.Context) (map[string][]User, error) {
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return nil, fmt.Errorf("running containers: %w", err)
	}
	out := map[string][]User{}
	for _, c := range res.Items {
		if _, sidecar := c.Labels[LabelSidecar]; sidecar {
			continue
		}
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		for _, m := range c.Mounts {
			if m.Type == "volume" && m.Name != "" {
				out[m.Name] = append(out[m.Name], User{ID: c.ID, Name: name, Labels: c.Labels})
			}
		}
	}
	return out, nil
}

// Quiesce makes a volume consistent for a backup, as its users' labels
// ask: pre hooks run, then labelled containers are stopped or paused. A
// running user without such labels gets a warning. The returned resume
// undoes what was done (start, unpause, post hooks) and must always be
// called, also when Quiesce fails: it then undoes what had been done.
func (e *Engine) Quiesce(ctx context.Context, volume string, report Report) (resume func(context.Context), err error) {
	users, err := e.runningUsers(ctx, volume)
	if err != nil {
		return func(context.Context) {}, err
	}
	var undo []func(context.Context)
	resume = func(ctx context.Context) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i](ctx)
		}
	}
	for _, c := range users {
		stop, pause := c.labels[LabelStop] == "true", c.labels[LabelPause] == "true"
		pre, post := c.labels[LabelPre], c.labels[LabelPost]
		if !stop && !pause && pre == "" {
			emit(report, messages.Event{Action: ActionInUse, Volume: volume, Container: c.name, Warning: true,
				Message: fmt.Sprintf("volume %s is in use by container %s, which has no %s, %s or %s label: the copy may be inconsistent",
					volume, c.name, LabelStop, LabelPause, LabelPre)})
		}
		timeout := hookTimeout(c.labels[LabelHookTimeout])
		if post != "" {
			c := c
			undo = append(undo, func(ctx context.Context) {
				if err := e.hook(ctx, c, "post", post, timeout, report); err != nil {
					emit(report, messages.Event{Action: ActionFailed, Volume: volume, Container: c.name, Warning: true, Message: err.Error()})
				}
			})
		}
		if pre != "" {
			if err := e.hook(ctx, c, "pre", pre, timeout, report); err != nil {
				return resume, fmt.Errorf("%w for volume %s: %v", ErrHook, volume, err)
			}
		}
		switch {
		case stop, pause:
			if stop {
				e.preStop(ctx, c, volume, report)
			}
			how := e.stopping() // stop wins when both labels are set
			if !stop {
				how = e.pausing()
			}
			release, err := e.hold(ctx, c, volume, report, how)
			if err != nil {
				return resume, err
			}
			undo = append(undo, release)
		}
	}
	return resume, nil
}

// Consistency says in words how a backup makes a consistent copy of the
// volumes of a running container with these labels (as Quiesce does):
// "stopped", "paused", "pre hook", or a combination; "" when nothing
// does, and the copy is made while the container writes.
func Consistency(labels map[string]string) string {
	var how []string
	switch {
	case labels[LabelStop] == "true":
		how = append(how, "stopped")
	case labels[LabelPause] == "true":
		how = append(how, "paused")
	}
	if labels[LabelPre] != "" {
		how = append(how, "pre hook")
	}
	return strings.Join(how, ", ")
}

// holding is a way to keep a container from writing while its volume is
// copied: stop and start, or pause (freeze) and unpause.
type holding struct {
	hold, release             func(ctx context.Context, id string) error
	holdAction, releaseAction string // event actions
	holding, holdErr          string // "stopping", "stop"
	released, releaseErr      string // "started", "start ... again"
	held                      string // "stopped"
}

func (e *Engine) stopping() holding {
	return holding{
		hold: func(ctx context.Context, id string) error {
			_, err := e.c.ContainerStop(ctx, id, client.ContainerStopOptions{})
			return err
		},
		release: func(ctx context.Context, id string) error {
			_, err := e.c.ContainerStart(ctx, id, client.ContainerStartOptions{})
			return err
		},
		holdAction: ActionStop, releaseAction: ActionStart,
		holding: "stopping", holdErr: "stop", released: "started", releaseErr: "start", held: "stopped",
	}
}

func (e *Engine) pausing() holding {
	return holding{
		hold: func(ctx context.Context, id string) error {
			_, err := e.c.ContainerPause(ctx, id, client.ContainerPauseOptions{})
			return err
		},
		release: func(ctx context.Context, id string) error {
			_, err := e.c.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
			return err
		},
		holdAction: ActionPause, releaseAction: ActionUnpause,
		holding: "pausing", holdErr: "pause", released: "unpaused", releaseErr: "unpause", held: "paused",
	}
}

// hold keeps c still as h says and returns how to let it go again; both
// are reported, the release with how long c was held.
func (e *Engine) hold(ctx context.Context, c appContainer, volume string, report Report, h holding) (func(context.Context), error) {
	emit(report, messages.Event{Action: h.holdAction, Volume: volume, Container: c.name, Message: h.holding + " container " + c.name})
	since := time.Now()
	if err := h.hold(ctx, c.id); err != nil {
		return nil, fmt.Errorf("%s container %s: %w", h.holdErr, c.name, err)
	}
	return func(ctx context.Context) {
		err := h.release(ctx, c.id)
		down := time.Since(since)
		if err != nil {
			emit(report, messages.Event{Action: ActionFailed, Volume: volume, Container: c.name, Warning: true, Down: down,
				Message: fmt.Sprintf("%s container %s again: %v", h.releaseErr, c.name, err)})
			return
		}
		emit(report, messages.Event{Action: h.releaseAction, Volume: volume, Container: c.name, Down: down,
			Message: fmt.Sprintf("%s container %s (%s for %s)", h.released, c.name, h.held, down.Round(10*time.Millisecond))})
	}, nil
}

// PrepareStop runs the pre-stop hooks (LabelPreStop) of the running users
// of volume while they run, and reports how many ran; a hook that fails is
// a warning.
func (e *Engine) PrepareStop(ctx context.Context, volume string, report Report) (int, error) {
	users, err := e.runningUsers(ctx, volume)
	if err != nil {
		return 0, err
	}
	ran := 0
	for _, c := range users {
		if e.preStop(ctx, c, volume, report) {
			ran++
		}
	}
	return ran, nil
}

// preStop runs c's pre-stop hook, if it has one, and reports whether it
// did. A failure is a warning: the stop that follows makes the copy
// consistent anyway, it may only take longer.
func (e *Engine) preStop(ctx context.Context, c appContainer, volume string, report Report) bool {
	cmd := c.labels[LabelPreStop]
	if cmd == "" {
		return false
	}
	if err := e.hook(ctx, c, "pre-stop", cmd, hookTimeout(c.labels[LabelHookTimeout]), report); err != nil {
		emit(report, messages.Event{Action: ActionFailed, Volume: volume, Container: c.name, Warning: true,
			Message: err.Error() + " (stopping it anyway)"})
	}
	return true
}

func hookTimeout(s string) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return defaultHookTimeout
}

// hook runs a command in a container with a timeout; its output is
// reported line by line, and a non-zero exit status is an error.
func (e *Engine) hook(ctx context.Context, c appContainer, which, cmd string, timeout time.Duration, report Report) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	emit(report, messages.Event{Action: ActionHook, Container: c.name, Message: fmt.Sprintf("running %s hook in %s: %s", which, c.name, cmd)})
	ex, err := e.c.ExecCreate(ctx, c.id, client.ExecCreateOptions{Cmd: []string{"sh", "-c", cmd}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return fmt.Errorf("%s hook in %s: %w", which, c.name, err)
	}
	att, err := e.c.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("%s hook in %s: %w", which, c.name, err)
	}
	var out bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &out, att.Reader)
		copied <- err
	}()
	select {
	case <-copied:
	case <-ctx.Done():
		att.Close()
		return fmt.Errorf("%s hook in %s: timed out after %s", which, c.name, timeout)
	}
	att.Close()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "" {
			emit(report, messages.Event{Action: ActionHookLine, Container: c.name, Message: fmt.Sprintf("%s hook %s: %s", which, c.name, line)})
		}
	}
	res, err := e.c.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("%s hook in %s: %w", which, c.name, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s hook in %s exited with status %d", which, c.name, res.ExitCode)
	}
	return nil
}

// StopUsers stops the running containers that use a volume (never a
// sidecar) and leaves them stopped, for a final copy before a migration.
// restart starts again the ones it stopped, for a caller whose migration
// failed afterwards; it is also returned, covering what was stopped, when
// StopUsers itself fails part way. Its error names each container it
// could not start.
func (e *Engine) StopUsers(ctx context.Context, volume string, report Report) (restart func(context.Context) error, err error) {
	var stopped []appContainer
	restart = func(ctx context.Context) error {
		var failed []error
		for _, c := range stopped {
			if _, err := e.c.ContainerStart(ctx, c.id, client.ContainerStartOptions{}); err != nil {
				emit(report, messages.Event{Action: ActionFailed, Volume: volume, Container: c.name, Warning: true,
					Message: fmt.Sprintf("start container %s again: %v", c.name, err)})
				failed = append(failed, fmt.Errorf("start container %s again: %w", c.name, err))
				continue
			}
			emit(report, messages.Event{Action: ActionStart, Volume: volume, Container: c.name, Message: "started container " + c.name + " again"})
		}
		return errors.Join(failed...)
	}
	users, err := e.runningUsers(ctx, volume)
	if err != nil {
		return restart, err
	}
	for _, c := range users {
		e.preStop(ctx, c, volume, report)
		emit(report, messages.Event{Action: ActionStop, Volume: volume, Container: c.name, Message: "stopping container " + c.name})
		if _, err := e.c.ContainerStop(ctx, c.id, client.ContainerStopOptions{}); err != nil {
			return restart, fmt.Errorf("stop container %s: %w", c.name, err)
		}
		stopped = append(stopped, c)
	}
	return restart, nil
}
