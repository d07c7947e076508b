package clitest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/dockerd"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// Engine connects to the machine's engine: skipped without one, failed
// under CI=true. When the test ends it removes the sidecar image lb built
// there (test packages running beside it on the engine have their own).
func (lb *Lifeboat) Engine(t *testing.T) *sidecar.Engine {
	t.Helper()
	e, err := sidecar.Connect(context.Background(), "")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs the Docker engine: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() {
		if ref, err := sidecar.ImageRef(lb.Path, lb.Version); err == nil {
			_, _ = e.Client().ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
		e.Close()
	})
	return e
}

// SecondEngine starts another dockerd; it stops with the test. Without
// one it skips, or fails under CI=true.
func SecondEngine(t *testing.T) *dockerd.Engine {
	t.Helper()
	e, err := dockerd.Start(context.Background(), "/tmp")
	if errors.Is(err, dockerd.ErrMissing) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	return e
}

// ConnectedSecondEngine starts a second engine and connects to it; both
// end with the test.
func ConnectedSecondEngine(t *testing.T) (string, *sidecar.Engine) {
	t.Helper()
	host := SecondEngine(t).Host
	e2, err := sidecar.Connect(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2.Close() })
	return host, e2
}

// Mountpoint is where the volume name is on the engine's disk.
func Mountpoint(t *testing.T, e *sidecar.Engine, name string) string {
	t.Helper()
	vs, err := e.Volumes(context.Background(), sidecar.Selection{Names: []string{name}})
	if err != nil || len(vs) != 1 {
		t.Fatalf("volume %s: %v", name, err)
	}
	return vs[0].Mountpoint
}

// AppImage loads a tiny application image, busybox sleeping, named for
// this process.
func AppImage(t *testing.T, e *sidecar.Engine) string {
	t.Helper()
	ref := fmt.Sprintf("lifeboat-test-app:%d", os.Getpid())
	BusyboxImage(t, e, ref, QuickStop+"sleep 3600 & wait")
	return ref
}

// QuickStop starts the script of a test application that stops at once
// on docker stop's SIGTERM (a shell as PID 1 ignores it otherwise, and
// every stop waited the engine's 10 s before SIGKILL).
const QuickStop = "trap 'exit 0' TERM; "

// BusyboxImage loads a busybox image whose entrypoint is a shell script;
// it is removed with the test.
func BusyboxImage(t *testing.T, e *sidecar.Engine, ref, script string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs busybox-static (.ci/run installs it): %v", err)
		}
		t.Skipf("busybox-static not installed: %v", err)
	}
	files := []sidecar.ImageFile{{Path: "bin/", Mode: 0o755}, {Path: "bin/busybox", Mode: 0o755, Data: bb}, {Path: "tmp/", Mode: 0o1777}}
	for _, tool := range []string{"sh", "sleep", "touch", "echo", "cat", "dd", "tail"} {
		files = append(files, sidecar.ImageFile{Path: "bin/" + tool, Link: "busybox"})
	}
	if err := e.LoadImage(context.Background(), ref, files, []string{"/bin/sh", "-c", script}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
	})
}

// StartApp starts a container of image with volume mounted at /data; both
// are removed with the test.
func StartApp(t *testing.T, e *sidecar.Engine, image, name, volume string, labels map[string]string) string {
	t.Helper()
	ctx := context.Background()
	c := e.Client()
	if _, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: volume}); err != nil {
		t.Fatal(err)
	}
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: image, Labels: labels},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: "/data"}}, NetworkMode: "none"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
		_, _ = c.VolumeRemove(context.Background(), volume, client.VolumeRemoveOptions{Force: true})
	})
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	return created.ID
}

// State is the container id's state now.
func State(t *testing.T, e *sidecar.Engine, id string) *container.State {
	t.Helper()
	res, err := e.Client().ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Container.State
}

// pageWriter is a database-like application: a 64 MiB file whose 8 KiB
// pages it keeps rewriting, and a log line when it is stopped (after
// writing grow MiB more: what a checkpoint at shutdown may write).
func pageWriter(grow int) string {
	return fmt.Sprintf(`[ -f /data/db ] || dd if=/dev/urandom of=/data/db bs=1M count=64 2>/dev/null
trap "dd if=/dev/urandom of=/data/checkpoint bs=1M count=%d 2>/dev/null; echo stopped >> /data/log; exit 0" TERM
echo ready > /data/ready
i=1
while :; do
	i=$(( (i*7919+13) %% 8192 ))
	dd if=/dev/urandom of=/data/db bs=8192 count=1 seek=$i conv=notrunc 2>/dev/null
	sleep 0.02 & wait $!
done`, grow)
}

// StartPageWriter starts a pageWriter(grow) container named name on a
// volume of its own, and waits until it writes; it returns the container's
// id, its volume and its image.
func StartPageWriter(t *testing.T, e *sidecar.Engine, name string, grow int, labels map[string]string) (id, vol, image string) {
	t.Helper()
	image, vol = fmt.Sprintf("%s-db:%d", name, grow), name+"-data"
	BusyboxImage(t, e, image, pageWriter(grow))
	id = StartApp(t, e, image, name, vol, labels)
	WaitFile(t, filepath.Join(Mountpoint(t, e, vol), "ready"), "ready\n", time.Minute)
	return id, vol, image
}
