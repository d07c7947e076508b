package volumes

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// volume prune snapshots exactly what docker volume prune would remove,
// removes only what it saved, and any removed volume comes back by name.
func TestVolumePrune(t *testing.T) {
	e := lb.Engine(t)
	ctx := context.Background()
	mark := fmt.Sprintf("lbtest=%d", os.Getpid())
	p := fmt.Sprintf("lbp%d-", os.Getpid())
	mk := func(name string, labels map[string]string) {
		labels["lbtest"] = fmt.Sprint(os.Getpid())
		if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: p + name, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = e.Client().VolumeRemove(context.Background(), p+name, client.VolumeRemoveOptions{Force: true})
		})
	}
	mk("anon", map[string]string{sidecar.AnonymousLabel: ""})
	mk("named", map[string]string{"env": "test"})
	mk("keep", map[string]string{"keep": "yes"})
	mk("used", map[string]string{sidecar.AnonymousLabel: ""})
	if err := os.WriteFile(clitest.Mountpoint(t, e, p+"anon")+"/cache.db", []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	image := clitest.AppImage(t, e)
	ctr, err := e.Client().ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: p + "used", Target: "/data"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().ContainerRemove(context.Background(), ctr.ID, client.ContainerRemoveOptions{Force: true})
	})

	c := lb.CLI(t)
	c.OK("init")
	list := func(args ...string) string {
		t.Helper()
		out := clitest.LastMessage[results.VolumePrune](t, c.OK(append([]string{"volume", "prune", "--dry-run", "--json", "--filter", "label=" + mark}, args...)...), "volume_prune")
		var names []string
		for _, n := range out.Volumes {
			names = append(names, strings.TrimPrefix(n, p))
		}
		return strings.Join(names, ",")
	}
	// Before API 1.42 (this machine's engine) docker volume prune removes
	// named dangling volumes too; since, only anonymous ones unless --all.
	named := sidecar.PruneTakesNamed(e.APIVersion(), false)
	t.Logf("engine API %s: plain prune takes named volumes: %v", e.APIVersion(), named)
	want, stay := "anon", []string{"named", "keep", "used"}
	if named {
		want, stay = "anon,keep,named", []string{"used"}
	}
	if got := list(); got != want {
		t.Fatalf("without --all: %q, want %q", got, want)
	}
	if got := list("--all", "--filter", "label!=keep"); got != "anon,named" {
		t.Fatalf("--all with label!=keep: %q", got)
	}
	c.Fails(2, "--yes", "volume", "prune", "--filter", "label="+mark)

	c.OK("volume", "prune", "--filter", "label="+mark, "--yes")
	if ok, _ := e.VolumeExists(ctx, p+"anon"); ok {
		t.Fatal("the anonymous volume was not removed")
	}
	for _, still := range stay {
		if ok, _ := e.VolumeExists(ctx, p+still); !ok {
			t.Fatalf("volume %s was removed", still)
		}
	}
	if out := c.OK("snapshots", "--tag", "pre-prune", "--volume", p+"anon"); !strings.Contains(out, "\n1 snapshot\n") {
		t.Fatalf("no pre-prune snapshot:\n%s", out)
	}
	c.OK("restore", "latest", "--volume", p+"anon") // back under its own name
	if b, err := os.ReadFile(clitest.Mountpoint(t, e, p+"anon") + "/cache.db"); err != nil || string(b) != "precious" {
		t.Fatalf("restored volume: %q %v", b, err)
	}
}

// What lifeboat volume prune lists is exactly what the engine's own prune
// then removes, with the same filter, on this engine's API version.
func TestVolumePruneMatchesEngine(t *testing.T) {
	e := lb.Engine(t)
	ctx := context.Background()
	mark := fmt.Sprintf("lbmatch=%d", os.Getpid())
	p := fmt.Sprintf("lbpm%d-", os.Getpid())
	for _, name := range []string{"a", "b"} {
		if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: p + name,
			Labels: map[string]string{"lbmatch": fmt.Sprint(os.Getpid())}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = e.Client().VolumeRemove(context.Background(), p+name, client.VolumeRemoveOptions{Force: true})
		})
	}
	c := lb.CLI(t)
	c.OK("init")
	listed := clitest.LastMessage[results.VolumePrune](t, c.OK("volume", "prune", "--dry-run", "--json", "--filter", "label="+mark), "volume_prune").Volumes
	res, err := e.Client().VolumePrune(ctx, client.VolumePruneOptions{Filters: client.Filters{}.Add("label", mark)})
	if err != nil {
		t.Fatal(err)
	}
	removed := append([]string(nil), res.Report.VolumesDeleted...)
	slices.Sort(removed)
	t.Logf("API %s: lifeboat listed %v, the engine removed %v", e.APIVersion(), listed, removed)
	if !slices.Equal(listed, removed) {
		t.Fatalf("lifeboat would snapshot %v, docker volume prune removed %v", listed, removed)
	}
}
