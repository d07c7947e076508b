package moves

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/dockerd"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/client"
)

// migrate moves a volume, with all its metadata and labels, from this
// engine to a second one through the repository, and compares both sides.
func TestMigrateBetweenEngines(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	host, e2 := clitest.ConnectedSecondEngine(t)
	vol := fmt.Sprintf("lbm-%d", os.Getpid())
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol, Labels: map[string]string{"app": "shop"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	treetest.Build(t, clitest.Mountpoint(t, e, vol))
	db := filepath.Join(clitest.Mountpoint(t, e, vol), "db")
	if err := os.WriteFile(db, treetest.RandomBytes(21, 32<<20), 0o600); err != nil {
		t.Fatal(err)
	}

	c := lb.CLI(t)
	c.OK("init")
	out := c.OK("migrate", vol, "--to", host)
	if !strings.Contains(out, "content verified: match") {
		t.Fatalf("migrate output:\n%s", out)
	}
	moved, err := e2.Volumes(ctx, sidecar.Selection{Names: []string{vol}})
	if err != nil || len(moved) != 1 || moved[0].Labels["app"] != "shop" {
		t.Fatalf("destination volume: %+v %v", moved, err)
	}
	if err := treetest.Compare(clitest.Mountpoint(t, e, vol), moved[0].Mountpoint); err != nil {
		t.Fatalf("migrated volume differs:\n%v", err)
	}
	c.Fails(1, "not empty", "migrate", vol, "--to", host)
	c.OK("migrate", vol, "--to", host, "--force")
	// Without a shared repository: streamed through lifeboat.
	if _, err := e2.Client().VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	noRepo := lb.CLIOn(t, "", []string{"LIFEBOAT_PASSWORD=unused"})
	noRepo.OK("migrate", vol, "--to", host, "--direct")
	moved, err = e2.Volumes(ctx, sidecar.Selection{Names: []string{vol}})
	if err != nil || len(moved) != 1 || moved[0].Labels["app"] != "shop" {
		t.Fatalf("destination volume after --direct: %+v %v", moved, err)
	}
	if err := treetest.Compare(clitest.Mountpoint(t, e, vol), moved[0].Mountpoint); err != nil {
		t.Fatalf("volume migrated with --direct differs:\n%v", err)
	}
	// Again into the copy it made, unused there, after 1% of the
	// database's 8 KiB pages changed: no --force needed, and the blocks
	// that differ travel (16 KiB each), little else.
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	pages := (32 << 20) / 8192
	for i := range pages / 100 {
		if _, err := f.WriteAt(treetest.RandomBytes(uint64(100+i), 8192), int64((i*7919)%pages)*8192); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	res := clitest.LastMessage[results.Migrate](t, noRepo.OK("migrate", vol, "--to", host, "--direct", "--json"), "migrate")
	moved, err = e2.Volumes(ctx, sidecar.Selection{Names: []string{vol}})
	if err != nil || len(moved) != 1 {
		t.Fatal(err)
	}
	if err := treetest.Compare(clitest.Mountpoint(t, e, vol), moved[0].Mountpoint); err != nil {
		t.Fatalf("volume migrated again with --direct differs:\n%v", err)
	}
	if len(res.Volumes) != 1 {
		t.Fatalf("migrated %+v, want one volume", res)
	}
	sent := res.Volumes[0].Sent
	if limit := int64(pages/100*16<<10 + 1<<20); sent > limit {
		t.Fatalf("the second direct migration sent %d bytes, want at most %d: %+v", sent, limit, res)
	}
	t.Logf("second direct migration: %d bytes sent of a %d MiB database with %d pages changed", sent, 32, pages/100)
	// A volume there that lifeboat did not make is not overwritten
	// without --force.
	if _, err := e2.Client().VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clitest.Mountpoint(t, e2, vol), "theirs"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	noRepo.Fails(1, "not empty", "migrate", vol, "--to", host, "--direct")
	if _, err := os.Stat(filepath.Join(clitest.Mountpoint(t, e2, vol), "theirs")); err != nil {
		t.Fatalf("the refused migration touched the volume: %v", err)
	}
	c.Fails(1, "destination: cannot reach the Docker engine", "migrate", vol, "--to", "unix:///nonexistent/docker.sock")
	c.Fails(2, "--to", "migrate", vol)
}

// sameAsStopped checks that vol on e2 equals vol on e, a page writer's
// volume as it stopped (its log says so).
func sameAsStopped(t *testing.T, e, e2 *sidecar.Engine, vol string) {
	t.Helper()
	moved := clitest.Mountpoint(t, e2, vol)
	if err := treetest.Compare(clitest.Mountpoint(t, e, vol), moved); err != nil {
		t.Fatalf("the destination differs from the source as it stopped:\n%v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(moved, "log")); string(b) != "stopped\n" {
		t.Fatalf("the write at the stop is not on the destination: %q", b)
	}
}

// migrate --live copies a volume while a database-like application
// writes into it, stops the application only for the last delta, and
// leaves the destination equal to the source as it stopped. When the
// destination's disk fills up after the stop, the application runs again
// on the source and the error says so.
func TestMigrateLive(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	host, e2 := clitest.ConnectedSecondEngine(t)
	p := fmt.Sprintf("lbl%d", os.Getpid())
	id, vol, _ := clitest.StartPageWriter(t, e, p, 0, nil)

	c := lb.CLI(t)
	c.OK("init")
	c.Fails(2, "--max-rounds", "migrate", vol, "--to", host, "--live", "--max-rounds", "0")
	out := c.OK("migrate", vol, "--to", host, "--live", "--stop-source", "--json")
	m := clitest.LastMessage[results.Migrate](t, out, "migrate")
	t.Logf("live migration: %+v", m)
	if len(m.Rounds) < 2 || m.DowntimeSeconds <= 0 || len(m.Volumes) != 1 || !m.Volumes[0].Match {
		t.Fatalf("live migration report: %+v", m)
	}
	first, last := m.Rounds[0], m.Rounds[len(m.Rounds)-1]
	// The first round writes the whole volume; the last only the pages
	// written since the round before (in 32 KiB pieces) and the log.
	if first.Written < 64<<20 || last.Written >= 8<<20 || last.Files > 3 {
		t.Fatalf("rounds: first wrote %d bytes, last %d bytes into %d files", first.Written, last.Written, last.Files)
	}
	if st := clitest.State(t, e, id); st.Running {
		t.Fatal("the application runs again on the source after --stop-source")
	}
	sameAsStopped(t, e, e2, vol)

	// --live --direct: the rounds streamed between the sidecars, the last
	// one read once the application stopped.
	_, direct, _ := clitest.StartPageWriter(t, e, p+"-direct", 0, nil)
	out = c.OK("migrate", direct, "--to", host, "--live", "--direct", "--stop-source", "--json")
	m = clitest.LastMessage[results.Migrate](t, out, "migrate")
	t.Logf("live direct migration: %+v", m)
	if len(m.Rounds) < 2 || m.DowntimeSeconds <= 0 || len(m.Volumes) != 1 || !m.Volumes[0].Match {
		t.Fatalf("live direct migration report: %+v", m)
	}
	// The first round sends the random database whole, the last only the
	// 16 KiB blocks written since the round before, and the log.
	if first, last := m.Rounds[0], m.Rounds[len(m.Rounds)-1]; first.Sent < 64<<20 || last.Sent >= 8<<20 {
		t.Fatalf("rounds: first sent %d bytes, last %d", first.Sent, last.Sent)
	}
	sameAsStopped(t, e, e2, direct)

	// Disk full on the destination, in the last round only: the volume
	// there has room for the database, not for what it writes as it stops.
	id, full, _ := clitest.StartPageWriter(t, e, p+"-grow", 16, nil)
	if _, err := e2.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: full, Driver: "local",
		DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=72m"}}); err != nil {
		t.Fatal(err)
	}
	r := c.Fails(1, "started again", "migrate", full, "--to", host, "--live", "--stop-source")
	if !strings.Contains(r.Stderr, "no space left") {
		t.Fatalf("the error does not say the destination is full:\n%s", r.Stderr)
	}
	if st := clitest.State(t, e, id); !st.Running {
		t.Fatal("the application was left stopped on the source after a failed live migration")
	}
}

// migrate --container --live --start moves the application as well: its
// image is sent to the destination (no registry), a container like it runs
// there on the copy, which holds what the source wrote as it stopped, and
// the source container stays stopped.
func TestMigrateLiveStart(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	host, e2 := clitest.ConnectedSecondEngine(t)
	p := fmt.Sprintf("lbs%d", os.Getpid())
	id, vol, image := clitest.StartPageWriter(t, e, p, 0, map[string]string{"tier": "db"})

	c := lb.CLI(t)
	c.OK("init")
	c.Fails(2, "--container", "migrate", vol, "--to", host, "--start")
	c.Fails(2, "--start", "migrate", "--container", p, "--to", host, "--wait", "1s")
	out := c.OK("migrate", "--container", p, "--to", host, "--live", "--start", "--wait", "1s")
	if !strings.Contains(out, p+" runs on "+host) {
		t.Fatalf("migrate --start output:\n%s", out)
	}
	if st := clitest.State(t, e, id); st.Running {
		t.Fatal("the source container runs again after migrate --start")
	}
	moved, err := e2.InspectApp(ctx, p)
	if err != nil || !moved.Running || moved.Image != image || moved.Volumes[vol] != "/data" {
		t.Fatalf("container on the destination: %+v %v", moved, err)
	}
	ins, err := e2.Client().ContainerInspect(ctx, p, client.ContainerInspectOptions{})
	if err != nil || ins.Container.Config.Labels["tier"] != "db" || ins.Container.Config.Labels[sidecar.LabelMigratedFrom] == "" {
		t.Fatalf("labels on the destination: %v %v", ins.Container.Config.Labels, err)
	}
	vols, err := e2.Volumes(ctx, sidecar.Selection{Names: []string{vol}})
	if err != nil || len(vols) != 1 {
		t.Fatalf("destination volume: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(vols[0].Mountpoint, "log")); string(b) != "stopped\n" {
		t.Fatalf("the write at the stop is not on the destination: %q", b)
	}
	// Again: a container of that name runs there now.
	c.Fails(1, "exists on", "migrate", "--container", p, "--to", host, "--live", "--start", "--force")
	if st := clitest.State(t, e, id); st.Running {
		t.Fatal("a refused migration started the source container")
	}
}

// Faults on the destination once the application has stopped for the
// last round of a live migration (its engine goes away; its restore
// sidecar is killed): the migration fails, says so, and the application
// runs again on the source.
func TestMigrateLiveFaultsAfterTheStop(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	for _, fault := range []struct {
		name, says string
		do         func(t *testing.T, d2 *dockerd.Engine)
	}{
		{"destination engine lost", "started again", func(t *testing.T, d2 *dockerd.Engine) { d2.Stop() }},
		{"destination sidecar killed", "the sidecar was killed (signal 9)", func(t *testing.T, d2 *dockerd.Engine) {
			e2, err := sidecar.Connect(context.Background(), d2.Host)
			if err != nil {
				t.Error(err)
				return
			}
			defer e2.Close()
			res, err := e2.Client().ContainerList(context.Background(), client.ContainerListOptions{Filters: client.Filters{}.Add("label", sidecar.LabelSidecar)})
			if err != nil || len(res.Items) == 0 {
				t.Errorf("no sidecar to kill on the destination: %v", err)
				return
			}
			for _, c := range res.Items {
				if _, err := e2.Client().ContainerKill(context.Background(), c.ID, client.ContainerKillOptions{}); err != nil {
					t.Error(err)
				}
			}
		}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			d2 := clitest.SecondEngine(t)
			// Writing 16 MiB as it stops: a last round long enough to act in.
			id, vol, _ := clitest.StartPageWriter(t, e, fmt.Sprintf("lbx%d-%d", os.Getpid(), len(fault.name)), 16, nil)
			c := lb.CLI(t)
			c.OK("init")
			acted, over := make(chan bool, 1), make(chan struct{})
			go func() {
				for {
					select {
					case <-over:
						acted <- false
						return
					case <-time.After(5 * time.Millisecond):
					}
					if res, err := e.Client().ContainerInspect(context.Background(), id, client.ContainerInspectOptions{}); err == nil && !res.Container.State.Running {
						fault.do(t, d2)
						acted <- true
						return
					}
				}
			}()
			r := c.Fails(1, "started again", "migrate", vol, "--to", d2.Host, "--live", "--stop-source")
			t.Logf("%s", r.Stderr)
			if !strings.Contains(r.Stderr, fault.says) {
				t.Errorf("the error does not say %q", fault.says)
			}
			close(over)
			if !<-acted {
				t.Fatal("the application never stopped")
			}
			if st := clitest.State(t, e, id); !st.Running {
				t.Fatalf("the application was left stopped:\n%s", r.Stderr)
			}
		})
	}
}
