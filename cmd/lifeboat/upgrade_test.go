package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	var got []byte
	for i := 0; i < 200; i++ {
		got, _ = os.ReadFile(path)
		if string(got) == want {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: %q, want %q", path, got, want)
}

// upgrade runs a container on a new image over fresh copies of its volumes,
// keeps the old ones untouched, rolls back on request and by itself when
// the new image fails, and leaves the original running on bad input.
func TestUpgradeAndRollback(t *testing.T) {
	e := dockerEngine(t)
	ctx := context.Background()
	p := fmt.Sprintf("lbu%d", os.Getpid())
	v1, v2, bad := p+"-app:1", p+"-app:2", p+"-app:bad"
	busyboxImage(t, e, v1, "echo v1 >> /data/log; exec sleep 3600")
	busyboxImage(t, e, v2, "echo v2 >> /data/log; exec sleep 3600")
	busyboxImage(t, e, bad, "echo bad >> /data/log; exit 3")
	name, vol := p, p+"-data"
	t.Cleanup(func() {
		c := e.Client()
		for _, n := range []string{name, sidecar.OldName(name)} {
			_, _ = c.ContainerRemove(context.Background(), n, client.ContainerRemoveOptions{Force: true})
		}
		vols, _ := c.VolumeList(context.Background(), client.VolumeListOptions{})
		for _, v := range vols.Items {
			if strings.HasPrefix(v.Name, vol) {
				_, _ = c.VolumeRemove(context.Background(), v.Name, client.VolumeRemoveOptions{Force: true})
			}
		}
	})
	created, err := e.Client().ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
		Config:     &container.Config{Image: v1, Env: []string{"SHOP=1"}, Labels: map[string]string{"tier": "db"}},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/data"}}, NetworkMode: "none"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	oldLog := filepath.Join(volumeMountpoint(t, e, vol), "log")
	waitFile(t, oldLog, "v1\n")

	c := newCLI(t)
	c.ok("init")
	c.fails(1, "not on the engine", "upgrade", name, "--image", p+"-app:missing")
	c.fails(1, "no-such", "upgrade", "no-such-container", "--image", v2)

	c.ok("upgrade", name, "--image", v2, "--wait", "1s")
	app, err := e.InspectApp(ctx, name)
	if err != nil || app.Image != v2 || !app.Running || app.ID == created.ID {
		t.Fatalf("after upgrade: %+v %v", app, err)
	}
	var fresh string
	for v := range app.Volumes {
		fresh = v
	}
	if fresh == vol || !strings.HasPrefix(fresh, vol+"-") {
		t.Fatalf("the new container uses volume %q", fresh)
	}
	waitFile(t, filepath.Join(volumeMountpoint(t, e, fresh), "log"), "v1\nv2\n")
	if b, _ := os.ReadFile(oldLog); string(b) != "v1\n" {
		t.Fatalf("the old volume changed: %q", b)
	}
	old, err := e.InspectApp(ctx, sidecar.OldName(name))
	if err != nil || old.Running || old.ID != created.ID {
		t.Fatalf("old container: %+v %v", old, err)
	}
	ins, _ := e.Client().ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if ins.Container.Config.Labels["tier"] != "db" || !strings.Contains(strings.Join(ins.Container.Config.Env, " "), "SHOP=1") {
		t.Fatalf("configuration not carried over: %v %v", ins.Container.Config.Labels, ins.Container.Config.Env)
	}

	c.ok("rollback", name)
	app, _ = e.InspectApp(ctx, name)
	if app.ID != created.ID || !app.Running || app.Image != v1 {
		t.Fatalf("after rollback: %+v", app)
	}
	waitFile(t, oldLog, "v1\nv1\n")

	// A new image that fails: lifeboat rolls back by itself.
	c.fails(1, "rolled back", "upgrade", name, "--image", bad, "--wait", "2s")
	app, _ = e.InspectApp(ctx, name)
	if app.ID != created.ID || !app.Running {
		t.Fatalf("after a failed upgrade: %+v", app)
	}
	if _, err := e.InspectApp(ctx, sidecar.OldName(name)); err == nil {
		t.Fatal("a failed upgrade left a renamed container")
	}

	// --cleanup needs a confirmation; with --yes the old container and its
	// volume go once the new one runs.
	c.ok("upgrade", name, "--image", v2, "--wait", "1s", "--cleanup", "--yes")
	if _, err := e.InspectApp(ctx, sidecar.OldName(name)); err == nil {
		t.Fatal("--cleanup kept the old container")
	}
	if ok, _ := e.VolumeExists(ctx, vol); ok {
		t.Fatal("--cleanup kept the old volume")
	}
}
