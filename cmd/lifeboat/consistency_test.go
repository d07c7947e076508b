package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// appImage loads a tiny application image: busybox, sleeping.
func appImage(t *testing.T, e *sidecar.Engine) string {
	t.Helper()
	ref := fmt.Sprintf("lifeboat-test-app:%d", os.Getpid())
	busyboxImage(t, e, ref, quickStop+"sleep 3600 & wait")
	return ref
}

// quickStop starts the script of a test application that stops at once
// on docker stop's SIGTERM (a shell as PID 1 ignores it otherwise, and
// every stop waited the engine's 10 s before SIGKILL).
const quickStop = "trap 'exit 0' TERM; "

// busyboxImage loads a busybox image whose entrypoint is a shell script.
func busyboxImage(t *testing.T, e *sidecar.Engine, ref, script string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs busybox-static (.ci/run installs it): %v", err)
		}
		t.Skipf("busybox-static not installed: %v", err)
	}
	files := []sidecar.ImageFile{{Path: "bin/", Mode: 0o755}, {Path: "bin/busybox", Mode: 0o755, Data: bb}, {Path: "tmp/", Mode: 0o1777}}
	for _, tool := range []string{"sh", "sleep", "touch", "echo", "cat", "dd"} {
		files = append(files, sidecar.ImageFile{Path: "bin/" + tool, Link: "busybox"})
	}
	if err := e.LoadImage(context.Background(), ref, files, []string{"/bin/sh", "-c", script}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true})
	})
}

// startApp starts a container of image with volume mounted at /data.
func startApp(t *testing.T, e *sidecar.Engine, image, name, volume string, labels map[string]string) string {
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

func state(t *testing.T, e *sidecar.Engine, id string) *container.State {
	t.Helper()
	res, err := e.Client().ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Container.State
}

// Labels on application containers: stop and pause are undone after the
// backup, pre and post hooks run (a pre hook's dump is in the snapshot),
// a failing pre hook skips its volume, and an unlabelled user is warned
// about.
func TestConsistencyLabels(t *testing.T) {
	e := dockerEngine(t)
	image := appImage(t, e)
	p := fmt.Sprintf("lbc%d-", os.Getpid())
	stopID := startApp(t, e, image, p+"stop", p+"vstop", map[string]string{"lifeboat.stop": "true"})
	pauseID := startApp(t, e, image, p+"pause", p+"vpause", map[string]string{"lifeboat.pause": "true"})
	startApp(t, e, image, p+"hook", p+"vhook", map[string]string{
		"lifeboat.pre":  "echo 'CREATE TABLE t;' > /data/dump.sql && echo dumped",
		"lifeboat.post": "touch /data/post-ran",
	})
	badID := startApp(t, e, image, p+"bad", p+"vbad", map[string]string{"lifeboat.pre": "echo refusing; exit 3"})
	startApp(t, e, image, p+"plain", p+"vplain", nil)

	c := newCLI(t)
	c.ok("init")
	// While a labelled volume is copied, its container is stopped or paused.
	for v, id := range map[string]string{"vstop": stopID, "vpause": pauseID} {
		mp := volumeMountpoint(t, e, p+v)
		if err := os.WriteFile(filepath.Join(mp, "big.bin"), treetest.RandomBytes(9, 256<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := c.cmd("backup", p+v)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		seen := false
	poll:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("backup %s: %v", v, err)
				}
				break poll
			default:
			}
			st := state(t, e, id)
			if (v == "vstop" && !st.Running) || (v == "vpause" && st.Paused) {
				seen = true
			}
		}
		if !seen {
			t.Fatalf("%s: the container was not stopped or paused during the backup", v)
		}
	}
	startedBefore := state(t, e, stopID).StartedAt
	for _, v := range []string{"vstop", "vpause", "vhook", "vplain"} {
		r := c.run("backup", p+v)
		if r.code != 0 {
			t.Fatalf("backup %s: exit %d\n%s\n%s", v, r.code, r.stdout, r.stderr)
		}
		if v == "vplain" && !strings.Contains(r.stderr, "may be inconsistent") {
			t.Fatalf("no warning for an unlabelled user:\n%s", r.stderr)
		}
		if v == "vhook" && !strings.Contains(r.stdout, "pre hook "+p+"hook: dumped") {
			t.Fatalf("hook output not logged:\n%s", r.stdout)
		}
	}
	if s := state(t, e, stopID); !s.Running || s.StartedAt == startedBefore {
		t.Fatalf("stop label: running %v, restarted %v", s.Running, s.StartedAt != startedBefore)
	}
	if s := state(t, e, pauseID); !s.Running || s.Paused {
		t.Fatalf("pause label: running %v paused %v", s.Running, s.Paused)
	}
	if ls := c.ok("ls", "latest", "--volume", p+"vhook"); !strings.Contains(ls, "dump.sql") {
		t.Fatalf("the pre hook's dump is not in the snapshot:\n%s", ls)
	}
	if _, err := os.Stat(filepath.Join(volumeMountpoint(t, e, p+"vhook"), "post-ran")); err != nil {
		t.Fatalf("post hook did not run: %v", err)
	}
	// The users of a volume are recorded with its snapshot.
	snaps := lastMessage[snapshotsResult](t, c.ok("snapshots", "--volume", p+"vstop", "--json"), "snapshots").Snapshots
	if len(snaps) == 0 || snaps[0].Volume == nil {
		t.Fatalf("snapshots of %svstop: %+v", p, snaps)
	}
	users := snaps[0].Volume.Containers
	if len(users) != 1 || users[0] != p+"stop" {
		t.Fatalf("containers recorded: %v", users)
	}
	// --volumes-from attaches a container's volumes at their own paths.
	c.ok("backup", "--volumes-from", p+"plain", "--tag", "from")
	snaps = lastMessage[snapshotsResult](t, c.ok("snapshots", "--tag", "from", "--json"), "snapshots").Snapshots
	if len(snaps) != 1 || len(snaps[0].Paths) != 1 || snaps[0].Paths[0] != "/data" || snaps[0].Volume == nil || snaps[0].Volume.Name != p+"vplain" {
		t.Fatalf("--volumes-from snapshot: %v", snaps)
	}
	r := c.fails(1, "pre hook failed", "backup", p+"vbad")
	if !strings.Contains(r.stderr, "exited with status 3") {
		t.Fatalf("failing hook: %s", r.stderr)
	}
	if out := c.ok("snapshots", "--volume", p+"vbad"); !strings.Contains(out, "\n0 snapshots") {
		t.Fatalf("a volume whose pre hook failed was backed up:\n%s", out)
	}
	if !state(t, e, badID).Running {
		t.Fatal("container of the failing hook is not running")
	}
}
