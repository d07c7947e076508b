package sidecar

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// repoRoot is where a sidecar sees the mount that holds a local repository.
const repoRoot = "/repo"

// ownContainerRe finds this process's container id in its mount table: the
// engine binds /etc/hostname, /etc/hosts and /etc/resolv.conf from the
// container's own directory.
var ownContainerRe = regexp.MustCompile(`/containers/([0-9a-f]{64})/`)

// OwnContainer returns the id of the container this process runs in, as
// the mount table tells it, or "" outside a container.
func OwnContainer() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	if m := ownContainerRe.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// localRepoMount says how a sidecar reaches a local repository at path (as
// lifeboat sees it) on this engine: the mount to add and the repository's
// path inside the sidecar.
//
// The rule: outside a container, the path is a path on the engine's host,
// bound as it is (on a remote engine it must exist there too: a shared file
// system). Inside a container of this engine, the path lives in one of the
// container's own mounts; the sidecar gets that mount's source (the host
// directory of a bind, or the named volume) and the same place within it.
// A path on no mount of lifeboat's container is refused: it exists only in
// that container's own file system. In a container that another engine
// runs, the path is taken as one the engine's host shares, as on a host.
func (e *Engine) localRepoMount(ctx context.Context, path string) (mount.Mount, string, error) {
	abs, err := filepath.Abs(strings.TrimPrefix(path, "local:"))
	if err != nil {
		return mount.Mount{}, "", err
	}
	hostPath := mount.Mount{Type: mount.TypeBind, Source: abs, Target: repoRoot}
	if e.self == "" {
		return hostPath, repoRoot, nil
	}
	res, err := e.c.ContainerInspect(ctx, e.self, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		// In a container that this engine does not run: the path can only
		// be one both hosts share (a shared file system), as on a host.
		return hostPath, repoRoot, nil
	}
	if err != nil {
		return mount.Mount{}, "", fmt.Errorf("lifeboat's own container: %w", err)
	}
	var best *container.MountPoint
	for i, m := range res.Container.Mounts {
		if within(abs, m.Destination) && (best == nil || len(m.Destination) > len(best.Destination)) {
			best = &res.Container.Mounts[i]
		}
	}
	if best == nil {
		return mount.Mount{}, "", fmt.Errorf("the repository %s is in lifeboat's own container file system, where no sidecar can reach it: mount it from the host or a volume (for example -v /srv/backups:%s)", abs, abs)
	}
	rel, _ := filepath.Rel(best.Destination, abs)
	inside := filepath.Join(repoRoot, rel)
	switch best.Type {
	case mount.TypeVolume:
		return mount.Mount{Type: mount.TypeVolume, Source: best.Name, Target: repoRoot}, inside, nil
	case mount.TypeBind:
		return mount.Mount{Type: mount.TypeBind, Source: best.Source, Target: repoRoot}, inside, nil
	}
	return mount.Mount{}, "", fmt.Errorf("the repository %s is on a %s mount of lifeboat's container, which a sidecar cannot share: use a bind mount or a named volume", abs, best.Type)
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
