package volumes

import (
	"context"
	"io"
	"os"

	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// Connection is a Docker engine lifeboat is connected to.
type Connection interface {
	Engine
	InventoryEngine
	Swarm // when the engine is a swarm manager
	// HostName is the name of the engine's host (docker info's Name).
	HostName(ctx context.Context) (string, error)
	Close() error
}

// Connect connects to the engine at host (unix://, tcp:// or ssh://) or,
// when host is "", to the one the docker CLI context named contextName
// selects ("" for DOCKER_CONTEXT, else the current context, else the
// environment: DOCKER_HOST). sshOptions are extra ssh arguments for an
// ssh:// engine; getenv reads the environment.
func Connect(ctx context.Context, host, contextName, sshOptions string, getenv func(string) string) (Connection, error) {
	ep := sidecar.Endpoint{Host: host}
	if host == "" {
		var err error
		if ep, err = sidecar.ResolveContext(contextName, "", getenv); err != nil {
			return nil, err
		}
	}
	ep.SSHOptions = sshOptions
	return sidecar.ConnectEndpoint(ctx, ep)
}

// Selection is which volumes of an engine a workflow works on: named,
// labelled, those of a container, the dangling ones, or all. It is the
// engine's own (sidecar.Selection), which checks it.
type Selection = sidecar.Selection

// ErrSyntax is wrapped by the error of a volume name, label selector,
// selection or engine address that is not well formed: the user's input,
// refused before anything is done.
var ErrSyntax = sidecar.ErrSyntax

// ValidateLabelSelector checks a label filter: "key" or "key=value".
func ValidateLabelSelector(s string) error { return sidecar.ValidateLabelSelector(s) }

// SidecarConfig is the Sidecars of lifeboat's commands: the image they
// run, and what they are handed to open the repository.
type SidecarConfig struct {
	// ImageRef is an image to run instead of building one from lifeboat's
	// own executable (--sidecar-image).
	ImageRef string
	// Version names the image built from the executable.
	Version string
	// Repository is asked for what a sidecar needs to open the repository
	// once a workflow's input is known to be good: it may ask for the
	// password.
	Repository func(ctx context.Context) (RepositoryAccess, error)
	// Stderr takes a sidecar's standard error.
	Stderr io.Writer
	// Killed is told the host name of a sidecar that a signal ended: the
	// locks it held are dead.
	Killed func(ctx context.Context, host string)
}

// RepositoryAccess is what a sidecar is handed to open the repository as
// lifeboat would.
type RepositoryAccess struct {
	Location string   // as the user gave it
	Password []byte   // passed on the sidecar's standard input, never in its environment
	Env      []string // settings for remote repositories (LIFEBOAT_S3_*, AWS_*, ...)
	// Files are files lifeboat reads (credentials), by the path the
	// sidecar gets them at.
	Files map[string]string
}

// Image is c.ImageRef, or the image built from lifeboat's executable
// (Engine.EnsureImage).
func (c SidecarConfig) Image(ctx context.Context, e Engine) (string, error) {
	if c.ImageRef != "" {
		return c.ImageRef, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return e.EnsureImage(ctx, exe, c.Version)
}

// Job is a run on the repository from the image on e.
func (c SidecarConfig) Job(ctx context.Context, e Engine) (sidecar.Job, error) {
	acc, err := c.Repository(ctx)
	if err != nil {
		return sidecar.Job{}, err
	}
	ref, err := c.Image(ctx, e)
	if err != nil {
		return sidecar.Job{}, err
	}
	j := sidecar.Job{Image: ref, Repo: acc.Location, Password: acc.Password, Env: acc.Env, Files: acc.Files, Stderr: c.Stderr}
	if c.Killed != nil {
		j.Killed = func(host string) { c.Killed(ctx, host) }
	}
	return j, nil
}
