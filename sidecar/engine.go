// Package sidecar is everything that talks to the Docker Engine API: it
// finds volumes, builds and loads lifeboat's own sidecar image from the
// running executable, and (as the remaining work of issue 4 lands) runs the
// sidecar with the volumes mounted.
package sidecar

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Engine is a connection to one Docker engine.
type Engine struct {
	c    *client.Client
	host string
	self string // the container lifeboat runs in ("" on a host), see OwnContainer
}

// Connect reaches the engine at host (empty: DOCKER_HOST and the usual
// environment) and negotiates the API version, so that an unreachable
// engine is a clear error here rather than later.
func Connect(ctx context.Context, host string) (*Engine, error) {
	return ConnectEndpoint(ctx, Endpoint{Host: host})
}

// ConnectEndpoint is Connect for an endpoint from a docker context.
func ConnectEndpoint(ctx context.Context, ep Endpoint) (*Engine, error) {
	host := ep.Host
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host != "" {
		if err := ValidateEngineAddress(host); err != nil {
			return nil, err
		}
	}
	opts := []client.Opt{client.FromEnv}
	switch {
	case strings.HasPrefix(host, "ssh://"):
		args, err := sshArgs(host, ep.SSHOptions)
		if err != nil {
			return nil, err
		}
		opts = []client.Opt{client.WithAPIVersionFromEnv(),
			client.WithHost("http://docker.example.com"), // a placeholder: the dialer decides
			client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) { return dialSSH(ctx, args) })}
	case ep.Host != "":
		opts = append(opts, client.WithHost(ep.Host))
	}
	if ep.TLSDir != "" {
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(ep.TLSDir, "ca.pem"),
			filepath.Join(ep.TLSDir, "cert.pem"), filepath.Join(ep.TLSDir, "key.pem")))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	shown := c.DaemonHost()
	if strings.HasPrefix(host, "ssh://") {
		shown = host
	}
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot reach the Docker engine at %s: %w", shown, err)
	}
	return &Engine{c: c, host: shown, self: OwnContainer()}, nil
}

// Host is the engine's address.
func (e *Engine) Host() string { return e.host }

// HostName is the name of the engine's host (docker info's Name): the
// same for every container on it and across their re-creation, where a
// container's own host name is its id.
func (e *Engine) HostName(ctx context.Context) (string, error) {
	res, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("engine info: %w", err)
	}
	return res.Info.Name, nil
}

// Client is the API client, for the other parts of this package.
func (e *Engine) Client() *client.Client { return e.c }

// Close releases the connection.
func (e *Engine) Close() error { return e.c.Close() }
