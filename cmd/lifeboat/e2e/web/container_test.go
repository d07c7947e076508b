package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// The compose example's deployment: lifeboat's own image running the
// daemon on examples/lifeboat.yml unchanged (listen ":9123" inside the
// container, the web password from a secret), its port published on the
// host's 127.0.0.1 as examples/compose.yml does. The page asks for the
// password, and with it shows a volume the example's job selects.
func TestPageInAContainer(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	image, err := e.EnsureImage(ctx, lb.Path, lb.Version)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "backups")
	secrets := map[string]string{"lifeboat-password": "correct horse\n", "lifeboat-web-password": "battery staple\n"}
	for name, content := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lb.CLIOn(t, repo, []string{"LIFEBOAT_PASSWORD=correct horse"}).OK("init")
	vol := fmt.Sprintf("lbwc-%d", os.Getpid())
	volume(t, e, vol, map[string]string{"com.example.backup": "nightly"}) // the example job's label

	example, err := filepath.Abs("../../../../examples/lifeboat.yml")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	mounts := []mount.Mount{
		{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
		{Type: mount.TypeBind, Source: repo, Target: "/backups"},
		{Type: mount.TypeBind, Source: example, Target: "/etc/lifeboat/lifeboat.yml", ReadOnly: true},
	}
	for name := range secrets {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: filepath.Join(dir, name), Target: "/run/secrets/" + name, ReadOnly: true})
	}
	p := network.MustParsePort("9123/tcp")
	created, err := e.Client().ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:   fmt.Sprintf("lbweb-daemon-%d", os.Getpid()),
		Config: &container.Config{Image: image, Cmd: []string{"daemon", "--config", "/etc/lifeboat/lifeboat.yml"}, ExposedPorts: network.PortSet{p: {}}},
		HostConfig: &container.HostConfig{Mounts: mounts,
			PortBindings: network.PortMap{p: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: fmt.Sprint(port)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := e.Client().ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var health int
	for deadline := time.Now().Add(60 * time.Second); health == 0; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			health = resp.StatusCode
			resp.Body.Close()
		} else if time.Now().After(deadline) {
			t.Fatalf("waited 60s for the daemon in its container on %s: %v", base, err)
		}
	}
	get := func(path, pw string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		if pw != "" {
			req.SetBasicAuth("me", pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := get("/", ""); resp.StatusCode != http.StatusUnauthorized {
		resp.Body.Close()
		t.Fatalf("the page without its password: %s", resp.Status)
	} else {
		resp.Body.Close()
	}
	resp := get("/api/overview", "battery staple")
	defer resp.Body.Close()
	var o struct {
		Volumes []struct {
			Name, State string
			Jobs        []string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the overview with the password: %s %v", resp.Status, err)
	}
	found := false
	for _, v := range o.Volumes {
		if v.Name == vol {
			found = true
			if v.State != "late" || len(v.Jobs) != 1 || v.Jobs[0] != "nightly" {
				t.Fatalf("%s in the container's overview: %+v", vol, v)
			}
		}
	}
	if !found {
		t.Fatalf("the container's overview has no volume %s", vol)
	}
}
