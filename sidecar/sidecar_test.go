package sidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// engine connects to the machine's Docker engine: skipped without one,
// failed under CI=true, where the engine is part of the machine.
func engine(t *testing.T) *Engine {
	t.Helper()
	e, err := Connect(context.Background(), "")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs the Docker engine: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// build compiles lifeboat, statically unless cgo is asked for.
func build(t *testing.T, cgo string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "lifeboat")
	cmd := exec.Command("go", "build", "-o", out, "../cmd/lifeboat")
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	return out
}

func removeImage(t *testing.T, e *Engine, ref string) {
	t.Cleanup(func() {
		_, _ = e.c.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
}

// The sidecar image is made from lifeboat's own executable, loaded without
// a registry, reused while the executable is the same, and runs.
func TestSidecarImageRuns(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	bin := build(t, "0")
	ref, err := e.EnsureImage(ctx, bin, "test-run")
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, e, ref)
	if !strings.HasPrefix(ref, ImageName+":test-run-") {
		t.Fatalf("image ref %q", ref)
	}
	again, err := e.EnsureImage(ctx, bin, "test-run")
	if err != nil || again != ref {
		t.Fatalf("second EnsureImage: %q %v", again, err)
	}
	// Other tests may run sidecars meanwhile: count only this test's.
	mine := map[string]string{"org.lifeboat.test": fmt.Sprint(os.Getpid())}
	var out bytes.Buffer
	code, err := e.Run(ctx, RunSpec{Image: ref, Args: []string{"--version"}, Stdout: &out, Labels: mine})
	if err != nil || code != 0 || !strings.Contains(out.String(), "lifeboat version") {
		t.Fatalf("run: code %d, %v, output %q", code, err, out.String())
	}
	code, _ = e.Run(ctx, RunSpec{Image: ref, Args: []string{"snapshots"}, Labels: mine})
	if code == 0 {
		t.Fatal("a failing sidecar command reported success")
	}
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", "org.lifeboat.test="+fmt.Sprint(os.Getpid()))})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 0 {
		t.Fatalf("%d sidecar containers left behind", len(res.Items))
	}
}

func TestDynamicExecutableRefused(t *testing.T) {
	treetest.RequireTool(t, "gcc") // for a dynamic build
	e := engine(t)
	if _, err := e.EnsureImage(context.Background(), build(t, "1"), "test-dyn"); !errors.Is(err, ErrNotStatic) {
		t.Fatalf("dynamic executable: %v", err)
	}
}

func TestVolumeSelection(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("lbtest-%d-", os.Getpid())
	mk := func(name string, labels map[string]string) {
		if _, err := e.c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: prefix + name, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = e.c.VolumeRemove(context.Background(), prefix+name, client.VolumeRemoveOptions{Force: true})
		})
	}
	mk("a", map[string]string{"app": prefix + "shop"})
	mk("b", map[string]string{"app": prefix + "shop", "tier": "db"})
	mk("c", nil)
	// A container (never started) that uses c.
	ref, err := e.EnsureImage(ctx, build(t, "0"), "test-vol")
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, e, ref)
	ctr, err := e.c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: ref},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: prefix + "c", Target: "/data"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.c.ContainerRemove(context.Background(), ctr.ID, client.ContainerRemoveOptions{Force: true})
	})
	names := func(s Selection) string {
		t.Helper()
		vs, err := e.Volumes(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vs {
			if strings.HasPrefix(v.Name, prefix) {
				out = append(out, strings.TrimPrefix(v.Name, prefix))
			}
		}
		return strings.Join(out, ",")
	}
	cases := map[string]Selection{
		"a,b":   {Labels: []string{"app=" + prefix + "shop"}},
		"b":     {Labels: []string{"app=" + prefix + "shop", "tier=db"}},
		"c":     {Container: ctr.ID},
		"a,c":   {Names: []string{prefix + "c", prefix + "a"}},
		"a,b,c": {All: true},
	}
	for want, sel := range cases {
		if got := names(sel); got != want {
			t.Errorf("%+v selected %q, want %q", sel, got, want)
		}
	}
	if got := names(Selection{Dangling: true}); !strings.Contains(got, "a") || strings.Contains(got, "c") {
		t.Errorf("dangling selected %q: want a and b, not c (in use)", got)
	}
	vs, _ := e.Volumes(ctx, Selection{Names: []string{prefix + "b"}})
	if len(vs) != 1 || vs[0].Labels["tier"] != "db" || vs[0].Driver != "local" {
		t.Fatalf("volume metadata: %+v", vs)
	}
	var unknown ErrUnknownVolume
	if _, err := e.Volumes(ctx, Selection{Names: []string{prefix + "nope"}}); !errors.As(err, &unknown) {
		t.Fatalf("unknown volume: %v", err)
	}
}

func TestUnreachableEngine(t *testing.T) {
	_, err := Connect(context.Background(), "unix:///nonexistent/docker.sock")
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Docker engine") {
		t.Fatalf("unreachable engine: %v", err)
	}
}

// The rule of docker volume prune by API version: named volumes go too
// before 1.42, and with --all since.
func TestPruneTakesNamed(t *testing.T) {
	for _, tc := range []struct {
		version string
		all     bool
		want    bool
	}{
		{"1.41", false, true}, {"1.41", true, true}, {"1.40", false, true}, {"1.25", false, true},
		{"1.42", false, false}, {"1.42", true, true}, {"1.43", false, false}, {"1.51", false, false},
		{"1.100", false, false}, {"2.0", false, false}, {"", false, true}, {"garbage", false, true},
	} {
		if got := PruneTakesNamed(tc.version, tc.all); got != tc.want {
			t.Errorf("API %q, all %v: %v, want %v", tc.version, tc.all, got, tc.want)
		}
	}
}
