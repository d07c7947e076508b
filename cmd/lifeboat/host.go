package main

import (
	"context"
	"os"
)

// containerMarker is a file that the Docker engine puts at the root of
// every container's file system.
const containerMarker = "/.dockerenv"

// snapshotHost is the host name that snapshots, locks and metrics record:
// --host, LIFEBOAT_HOST or the config's host: when given; else, when
// lifeboat runs in a container (the daemon of examples/compose.yml), the
// name of the Docker engine's host, which stays the same when the
// container is re-created (the container's own host name is its id, so
// each re-creation would start a new group of snapshots: no parent, and
// keep rules that never see the older ones); else this machine's name.
func (a *app) snapshotHost(ctx context.Context) string {
	if a.cfg.Host != "" {
		return a.cfg.Host
	}
	if a.hostName != "" {
		return a.hostName
	}
	a.hostName, _ = os.Hostname()
	if _, err := os.Stat(containerMarker); err == nil {
		if eng, err := a.engineFor(ctx, "", a.dockerContext); err == nil {
			if name, err := eng.HostName(ctx); err == nil && name != "" {
				a.hostName = name
			}
			eng.Close()
		}
	}
	return a.hostName
}
