package moves

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// upgrade runs a container on a new image over fresh copies of its volumes,
// keeps the old ones untouched, rolls back on request and by itself when
// the new image fails, and leaves the original running on bad input.
func TestUpgradeAndRollback(t *testing.T) {
	e := lb.Engine(t)
	ctx := context.Background()
	p := fmt.Sprintf("lbu%d", os.Getpid())
	v1, v2, bad := p+"-app:1", p+"-app:2", p+"-app:bad"
	// v1 too writes when it is stopped: after the upgrade copied its
	// volume, so only the delta after the stop brings that line over.
	clitest.BusyboxImage(t, e, v1, `trap "echo stopped >> /data/log; exit 0" TERM; echo v1 >> /data/log; while :; do sleep 1 & wait $!; done`)
	// v2 writes a last line when stopped as docker stop does (SIGTERM).
	clitest.BusyboxImage(t, e, v2, `trap "echo flushed >> /data/log; exit 0" TERM; echo v2 >> /data/log; while :; do sleep 1 & wait $!; done`)
	clitest.BusyboxImage(t, e, bad, "echo going down; echo bad >> /data/log; exit 3")
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
	oldLog := filepath.Join(clitest.Mountpoint(t, e, vol), "log")
	clitest.WaitFile(t, oldLog, "v1\n", time.Minute)

	c := lb.CLI(t)
	c.OK("init")
	c.Fails(1, "not on the engine", "upgrade", name, "--image", p+"-app:missing")
	c.Fails(1, "no-such", "upgrade", "no-such-container", "--image", v2)

	// The password is read once, however many sidecars and openings the
	// upgrade needs (it used to be asked twice).
	once := *c
	once.Env = []string{"LIFEBOAT_PASSWORD_FILE=" + countingPasswordFile(t, "correct horse", 1)}
	res := once.OK("upgrade", name, "--image", v2, "--wait", "1s", "--json")
	up := clitest.LastMessage[results.Upgrade](t, res, "upgrade")
	// The first copy wrote "v1\n"; the delta after the stop, the log again
	// with "stopped\n" (the only file changed).
	if up.DowntimeSeconds <= 0 || len(up.Copies) != 1 || up.Copies[0].Volume != vol || up.Copies[0].FirstBytes != 3 ||
		up.Copies[0].DeltaFiles != 1 || up.Copies[0].DeltaBytes != int64(len("v1\nstopped\n")) || !up.Copies[0].Match {
		t.Fatalf("upgrade report %+v", up)
	}
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
	clitest.WaitFile(t, filepath.Join(clitest.Mountpoint(t, e, fresh), "log"), "v1\nstopped\nv2\n", time.Minute)
	if b, _ := os.ReadFile(oldLog); string(b) != "v1\nstopped\n" {
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

	out := c.OK("rollback", name)
	app, _ = e.InspectApp(ctx, name)
	if app.ID != created.ID || !app.Running || app.Image != v1 {
		t.Fatalf("after rollback: %+v", app)
	}
	// Stopped with its stop signal, not killed: its last write is there,
	// on the kept volume that the output names.
	clitest.WaitFile(t, filepath.Join(clitest.Mountpoint(t, e, fresh), "log"), "v1\nstopped\nv2\nflushed\n", time.Minute)
	if !strings.Contains(out, fresh) {
		t.Fatalf("rollback does not name the kept volume %s:\n%s", fresh, out)
	}
	clitest.WaitFile(t, oldLog, "v1\nstopped\nv1\n", time.Minute)

	// A new image that fails: lifeboat rolls back by itself, says why (its
	// exit code and last words) and removes the fresh copy of the volume.
	countFresh := func() int {
		vols, _ := e.Client().VolumeList(ctx, client.VolumeListOptions{})
		n := 0
		for _, v := range vols.Items {
			if strings.HasPrefix(v.Name, vol+"-") {
				n++
			}
		}
		return n
	}
	before := countFresh()
	r := c.Fails(1, "rolled back", "upgrade", name, "--image", bad, "--wait", "2s")
	if !strings.Contains(r.Stderr, "exited with code 3") || !strings.Contains(r.Stderr, "going down") {
		t.Fatalf("the failure does not say why:\n%s", r.Stderr)
	}
	if after := countFresh(); after != before {
		t.Fatalf("%d fresh volumes before the failed upgrade, %d after", before, after)
	}
	app, _ = e.InspectApp(ctx, name)
	if app.ID != created.ID || !app.Running {
		t.Fatalf("after a failed upgrade: %+v", app)
	}
	if _, err := e.InspectApp(ctx, sidecar.OldName(name)); err == nil {
		t.Fatal("a failed upgrade left a renamed container")
	}

	// --cleanup needs a confirmation; with --yes the old container and its
	// volume go once the new one runs.
	c.OK("upgrade", name, "--image", v2, "--wait", "1s", "--cleanup", "--yes")
	if _, err := e.InspectApp(ctx, sidecar.OldName(name)); err == nil {
		t.Fatal("--cleanup kept the old container")
	}
	if ok, _ := e.VolumeExists(ctx, vol); ok {
		t.Fatal("--cleanup kept the old volume")
	}
}

// An upgrade keeps the network settings the user gave (a static address,
// aliases) and gives the new container its own hostname and alias, not the
// old container's id.
func TestUpgradeKeepsNetworkSettings(t *testing.T) {
	e := lb.Engine(t)
	ctx := context.Background()
	p := fmt.Sprintf("lbn%d", os.Getpid())
	v1, v2 := p+"-app:1", p+"-app:2"
	clitest.BusyboxImage(t, e, v1, clitest.QuickStop+"sleep 3600 & wait")
	clitest.BusyboxImage(t, e, v2, clitest.QuickStop+"sleep 3600 & wait")
	netName, name, vol := p+"-net", p, p+"-data"
	if _, err := e.Client().NetworkCreate(ctx, netName, client.NetworkCreateOptions{Driver: "bridge",
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: netip.MustParsePrefix("172.30.99.0/24")}}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := e.Client()
		for _, n := range []string{name, sidecar.OldName(name)} {
			_, _ = c.ContainerRemove(context.Background(), n, client.ContainerRemoveOptions{Force: true})
		}
		_, _ = c.NetworkRemove(context.Background(), netName, client.NetworkRemoveOptions{})
		vols, _ := c.VolumeList(context.Background(), client.VolumeListOptions{})
		for _, v := range vols.Items {
			if strings.HasPrefix(v.Name, vol) {
				_, _ = c.VolumeRemove(context.Background(), v.Name, client.VolumeRemoveOptions{Force: true})
			}
		}
	})
	ip := netip.MustParseAddr("172.30.99.10")
	created, err := e.Client().ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
		Config: &container.Config{Image: v1},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: vol, Target: "/data"}},
			NetworkMode: container.NetworkMode(netName)},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}, Aliases: []string{"db"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	c := lb.CLI(t)
	c.OK("init")
	c.OK("upgrade", name, "--image", v2, "--wait", "1s")
	ins, err := e.Client().ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newC := ins.Container
	ep := newC.NetworkSettings.Networks[netName]
	oldShort := created.ID[:12]
	if ep == nil || ep.IPAMConfig == nil || ep.IPAMConfig.IPv4Address != ip || ep.IPAddress != ip {
		t.Fatalf("the static address was not kept: %+v", ep)
	}
	if !slices.Contains(ep.Aliases, "db") || slices.Contains(ep.Aliases, oldShort) {
		t.Fatalf("aliases %v: want db, not the old id %s", ep.Aliases, oldShort)
	}
	if newC.Config.Hostname == oldShort {
		t.Fatalf("the new container took the old one's hostname %s", oldShort)
	}
}

// countingPasswordFile is a FIFO that serves pw to each reader that opens
// it; at the end of the test it requires exactly want readers.
func countingPasswordFile(t *testing.T, pw string, want int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	var readers atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			f, err := os.OpenFile(p, os.O_WRONLY, 0) // blocks until a reader opens it
			if err != nil {
				return
			}
			select {
			case <-stop:
				f.Close()
				return
			default:
			}
			_, _ = f.WriteString(pw + "\n")
			f.Close()
			readers.Add(1)
			// Wait until that reader has closed it: a write opened before
			// would go to the same reader and count it twice.
			for {
				g, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				if err != nil {
					break // ENXIO: no reader any more
				}
				g.Close()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		if f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil { // unblocks the writer
			<-done
			f.Close()
		}
		if got := readers.Load(); got != int64(want) {
			t.Errorf("the password was read %d times, want %d", got, want)
		}
	})
	return p
}
