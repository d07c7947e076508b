package sidecar

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// RunSpec describes one run of a sidecar container.
type RunSpec struct {
	Image   string
	Args    []string
	Env     []string
	Mounts  []mount.Mount
	Labels  map[string]string
	Network string // network mode ("none", "host", ...; default bridge)
	// VolumesFrom attaches the volumes of these containers ("name:ro").
	VolumesFrom []string
	Stdin       io.Reader // the container's stdin, if any
	// Killed, if set, is told the container's host name (what lifeboat
	// inside recorded in its locks) when a signal ended it (the engine's
	// exit code 128+signal): lifeboat inside could not release its locks.
	Killed func(host string)
	Stdout io.Writer // the container's stdout (JSON lines from lifeboat --json)
	Stderr io.Writer
}

// LabelSidecar marks lifeboat's own sidecar containers, which are named
// SidecarPrefix and a random suffix. A sidecar is never a user of the
// volumes it mounts: no workflow warns about it, stops it or records it.
const (
	LabelSidecar  = "org.lifeboat.sidecar"
	SidecarPrefix = "lifeboat-sidecar-"
)

// Run creates the container, streams its output while it runs, waits for
// it and returns its exit code. The container is removed afterwards in
// every case: success, failure, or ctx being cancelled (which kills it).
func (e *Engine) Run(ctx context.Context, s RunSpec) (int, error) {
	labels := map[string]string{LabelSidecar: "true"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return -1, err
	}
	withStdin := s.Stdin != nil
	created, err := e.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: SidecarPrefix + hex.EncodeToString(suffix[:]),
		Config: &container.Config{Image: s.Image, Cmd: s.Args, Env: s.Env, Labels: labels,
			OpenStdin: withStdin, StdinOnce: withStdin, AttachStdin: withStdin, AttachStdout: true, AttachStderr: true},
		HostConfig: &container.HostConfig{Mounts: s.Mounts, VolumesFrom: s.VolumesFrom, NetworkMode: container.NetworkMode(s.Network)},
	})
	if err != nil {
		return -1, fmt.Errorf("create sidecar: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = e.c.ContainerRemove(rctx, created.ID, client.ContainerRemoveOptions{Force: true})
	}()
	wait := e.c.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	// Attached before it starts, so that nothing it prints is missed, and
	// raw: the log driver would mangle binary output (a migration stream).
	att, err := e.c.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdin: withStdin, Stdout: true, Stderr: true})
	if err != nil {
		return -1, fmt.Errorf("attach sidecar: %w", err)
	}
	defer att.Close()
	if withStdin {
		go func() {
			_, _ = io.Copy(att.Conn, s.Stdin)
			_ = att.CloseWrite()
		}()
	}
	logs := io.NopCloser(att.Reader)
	if _, err := e.c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return -1, fmt.Errorf("start sidecar: %w", err)
	}
	defer logs.Close()
	stdout, stderr := s.Stdout, s.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := stdcopy.StdCopy(stdout, stderr, logs); err != nil && ctx.Err() == nil {
		return -1, fmt.Errorf("sidecar output: %w", err)
	}
	select {
	case res := <-wait.Result:
		if _, ok := KilledBy(int(res.StatusCode)); ok && s.Killed != nil {
			s.Killed(created.ID[:12])
		}
		if res.Error != nil {
			return int(res.StatusCode), fmt.Errorf("sidecar: %s", res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		return -1, fmt.Errorf("wait for sidecar: %w", err)
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// KilledBy returns the signal that ended a container, from its exit code
// as the engine reports it (128+signal), and whether a signal did;
// lifeboat's own exit codes are below 128.
func KilledBy(code int) (signal int, ok bool) {
	if code > 128 && code < 160 {
		return code - 128, true
	}
	return 0, false
}
