package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/client"
)

// A volume backup warns about the application that uses the volume, never
// about lifeboat's own sidecar, and records only the application.
func TestSidecarIsNoVolumeUser(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	vol := fmt.Sprintf("lbu-%d", os.Getpid())
	name := fmt.Sprintf("lbu-app-%d", os.Getpid())
	clitest.StartApp(t, e, clitest.AppImage(t, e), name, vol, nil)
	c := lb.CLI(t)
	c.OK("init")
	r := c.Run("backup", vol)
	if r.Code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	warnings := strings.Count(r.Stderr, "is in use by container")
	if warnings != 1 || !strings.Contains(r.Stderr, "in use by container "+name) || strings.Contains(r.Stderr+r.Stdout, sidecar.SidecarPrefix) {
		t.Fatalf("want one warning, about %s, none about a sidecar:\n%s", name, r.Stderr)
	}
	var containers []string
	for _, s := range clitest.LastMessage[results.Snapshots](t, c.OK("snapshots", "--json"), "snapshots").Snapshots {
		if s.Volume != nil {
			containers = s.Volume.Containers
		}
	}
	if len(containers) != 1 || containers[0] != name {
		t.Fatalf("snapshot records users %v, want [%s]", containers, name)
	}
}

// migrate --stop-source stops the application, not its own sidecar, and
// leaves it stopped after a successful move; when the move fails after the
// stop, the application runs again and the error says so. Without
// --stop-source, migrate applies the application's lifeboat.stop label as
// backup does: stopped for the copy, running again afterwards.
func TestMigrateStopsTheApplicationOnly(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	host, e2 := clitest.ConnectedSecondEngine(t)
	img := clitest.AppImage(t, e)
	vol := fmt.Sprintf("lbs-%d", os.Getpid())
	id := clitest.StartApp(t, e, img, fmt.Sprintf("lbs-app-%d", os.Getpid()), vol, map[string]string{sidecar.LabelStop: "true"})
	if err := os.WriteFile(filepath.Join(clitest.Mountpoint(t, e, vol), "pg"), []byte("pages"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := lb.CLI(t)
	c.OK("init")

	// The label: stopped while copied, running afterwards.
	r := c.Run("migrate", vol, "--to", host)
	if r.Code != 0 || !strings.Contains(r.Stdout+r.Stderr, "stopping container") || !clitest.State(t, e, id).Running {
		t.Fatalf("migrate with lifeboat.stop: exit %d, running %v\n%s%s", r.Code, clitest.State(t, e, id).Running, r.Stdout, r.Stderr)
	}

	// A failure after the stop (the destination is not empty, no --force):
	// the application is started again, and the error says so.
	r = c.Run("migrate", vol, "--to", host, "--stop-source")
	if r.Code == 0 || !strings.Contains(r.Stderr, "started again") || !clitest.State(t, e, id).Running {
		t.Fatalf("failed migrate --stop-source: exit %d, running %v\n%s%s", r.Code, clitest.State(t, e, id).Running, r.Stdout, r.Stderr)
	}

	// Success: the application stays stopped, the copy is complete.
	if _, err := e2.Client().VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	r = c.Run("migrate", vol, "--to", host, "--stop-source")
	if r.Code != 0 || !strings.Contains(r.Stdout, "content verified: match") {
		t.Fatalf("migrate --stop-source: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if clitest.State(t, e, id).Running {
		t.Fatal("the application runs again after migrate --stop-source")
	}
	if strings.Contains(r.Stdout+r.Stderr, sidecar.SidecarPrefix) {
		t.Fatalf("a sidecar was treated as a user:\n%s%s", r.Stdout, r.Stderr)
	}
}

// Overwriting a volume makes it equal to the snapshot: a stale WAL segment
// does not survive restore --force or migrate --force next to the restored
// ones, and "match" means equal.
func TestForceLeavesNoStaleFiles(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	host, e2 := clitest.ConnectedSecondEngine(t)
	vol := fmt.Sprintf("lbf-%d", os.Getpid())
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	src := clitest.Mountpoint(t, e, vol)
	mkdirFile := func(root, rel, data string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkdirFile(src, "pg_wal/000001", "segment one")
	c := lb.CLI(t)
	c.OK("init")
	c.OK("backup", vol)

	// restore --to-volume --force into a volume with a stale segment.
	other := vol + "-copy"
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), other, client.VolumeRemoveOptions{Force: true})
	})
	c.OK("restore", "latest", "--volume", vol, "--to-volume", other)
	mkdirFile(clitest.Mountpoint(t, e, other), "pg_wal/000002", "stale")
	c.Fails(1, "not empty", "restore", "latest", "--volume", vol, "--to-volume", other)
	c.OK("restore", "latest", "--volume", vol, "--to-volume", other, "--force")
	if err := treetest.Compare(src, clitest.Mountpoint(t, e, other)); err != nil {
		t.Fatalf("restore --force left the volume different:\n%v", err)
	}

	// migrate --force, through the repository and --direct.
	c.OK("migrate", vol, "--to", host)
	moved, err := e2.Volumes(ctx, sidecar.Selection{Names: []string{vol}})
	if err != nil || len(moved) != 1 {
		t.Fatalf("destination: %v %v", moved, err)
	}
	for _, args := range [][]string{{"migrate", vol, "--to", host, "--force"}, {"migrate", vol, "--to", host, "--force", "--direct"}} {
		mkdirFile(moved[0].Mountpoint, "pg_wal/000002", "stale")
		out := c.OK(args...)
		if err := treetest.Compare(src, moved[0].Mountpoint); err != nil {
			t.Fatalf("%v left the volume different:\n%v\n%s", args, err, out)
		}
	}
}

// A volume that does not exist is reported before the sidecar image is
// built and loaded (it used to be built first), and a dry run builds none.
func TestUnknownVolumeBeforeImage(t *testing.T) {
	e := lb.Engine(t)
	ctx := context.Background()
	ref, err := sidecar.ImageRef(lb.Path, lb.Version)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = e.Client().ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true})
	c := lb.CLI(t)
	c.OK("init")
	c.Fails(1, "no-such-volume", "backup", "no-such-volume")
	c.OK("volume", "prune", "--dry-run")
	if _, err := e.Client().ImageInspect(ctx, ref); err == nil {
		t.Fatalf("the sidecar image %s was built for a volume that does not exist", ref)
	}
}

// A database-like application writes pages into a large file during the
// backup: the snapshot records the file as changed while read, snapshots
// shows it, and the text output summarises each volume. With a
// lifeboat.stop label instead, --json carries timed stop and start events
// that say how long the application was down.
func TestVolumeBackupReportsChangesAndDowntime(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ref := fmt.Sprintf("lifeboat-test-writer:%d", os.Getpid())
	clitest.BusyboxImage(t, e, ref, clitest.QuickStop+`while :; do dd if=/dev/urandom of=/data/db bs=8192 count=1 seek=$((RANDOM % 8000)) conv=notrunc 2>/dev/null; done`)
	vol := fmt.Sprintf("lbw-%d", os.Getpid())
	c := lb.CLI(t)
	c.OK("init")
	// The file exists before the writer starts, 64 MiB of pages.
	if _, err := e.Client().VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clitest.Mountpoint(t, e, vol), "db"), treetest.RandomBytes(9, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	clitest.StartApp(t, e, ref, vol+"-app", vol, nil)
	r := c.Run("backup", vol)
	if r.Code != 0 || !strings.Contains(r.Stdout, "snapshot") || !strings.Contains(r.Stdout, "1 file, read 64.0 MiB") {
		t.Fatalf("backup beside a writer: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "changed while being read") {
		t.Fatalf("the writer's changes were not noticed:\n%s", r.Stderr)
	}
	if out := c.OK("snapshots", "--volume", vol); !strings.Contains(out, "(1 file changed while read)") {
		t.Fatalf("snapshots does not show the change:\n%s", out)
	}

	// The same application labelled lifeboat.stop: stopped for the copy.
	stopped := vol + "-stop"
	clitest.StartApp(t, e, ref, stopped+"-app", stopped, map[string]string{sidecar.LabelStop: "true"})
	events := clitest.Messages[messages.Event](t, c.OK("backup", stopped, "--json"), "event")
	if len(events) != 2 || events[0].Action != sidecar.ActionStop || events[1].Action != sidecar.ActionStart {
		t.Fatalf("events %+v, want stop then start", events)
	}
	if events[0].Time.IsZero() || events[1].DownSecs <= 0 {
		t.Fatalf("events lack their time or the downtime: %+v", events)
	}
}

// A file that grows while migrate reads it is no difference: the verdict
// compares the destination with what the snapshot holds, not with totals
// counted before the files were read.
func TestMigrateWhileAFileGrows(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	host, e2 := clitest.ConnectedSecondEngine(t)
	ref := fmt.Sprintf("lifeboat-test-appender:%d", os.Getpid())
	clitest.BusyboxImage(t, e, ref, clitest.QuickStop+`while :; do dd if=/dev/urandom bs=65536 count=1 2>/dev/null >> /data/log; done`)
	vol := fmt.Sprintf("lbg-%d", os.Getpid())
	if _, err := e.Client().VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(clitest.Mountpoint(t, e, vol), "log"), treetest.RandomBytes(5, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	clitest.StartApp(t, e, ref, vol+"-app", vol, nil)
	t.Cleanup(func() {
		_, _ = e2.Client().VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	c := lb.CLI(t)
	c.OK("init")
	r := c.Run("migrate", vol, "--to", host)
	if r.Code != 0 || !strings.Contains(r.Stdout, "content verified: match") {
		t.Fatalf("migrate while a file grows: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "grew while being read") && !strings.Contains(r.Stderr, "changed while being read") {
		t.Fatalf("the growing file was not noticed, so the test tested nothing:\n%s", r.Stderr)
	}
}

// The one rule for writing into a volume, from the CLI against real
// engines: a running container on it is never written under, whatever
// --force says. An unlabelled one makes restore --to-volume and every kind
// of migrate refuse before anything is copied, naming it; one labelled
// lifeboat.stop=true is stopped for the restore and started again.
func TestNoWriteUnderARunningApplication(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	img := clitest.AppImage(t, e)
	p := fmt.Sprintf("lbw%d-", os.Getpid())
	page := func(mp string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(mp, "page"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	setPage := func(mp, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(mp, "page"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := lb.CLI(t)
	c.OK("init")

	plain := clitest.StartApp(t, e, img, p+"plain", p+"vplain", nil)
	mp := clitest.Mountpoint(t, e, p+"vplain")
	setPage(mp, "backed up")
	c.OK("backup", p+"vplain")
	setPage(mp, "written since")
	r := c.Fails(1, "in use by a running container", "restore", "latest", "--volume", p+"vplain", "--to-volume", p+"vplain", "--force")
	if !strings.Contains(r.Stderr, p+"plain") || page(mp) != "written since" || !clitest.State(t, e, plain).Running {
		t.Fatalf("refused restore: page %q, running %v\n%s", page(mp), clitest.State(t, e, plain).Running, r.Stderr)
	}

	stop := clitest.StartApp(t, e, img, p+"stop", p+"vstop", map[string]string{sidecar.LabelStop: "true"})
	mp2 := clitest.Mountpoint(t, e, p+"vstop")
	setPage(mp2, "backed up")
	c.OK("backup", p+"vstop")
	setPage(mp2, "written since")
	before := clitest.State(t, e, stop).StartedAt
	out := c.OK("restore", "latest", "--volume", p+"vstop", "--to-volume", p+"vstop", "--force")
	if page(mp2) != "backed up" || !clitest.State(t, e, stop).Running || clitest.State(t, e, stop).StartedAt == before || !strings.Contains(out, "stopping container "+p+"stop") {
		t.Fatalf("restore under a labelled application: page %q, running %v, restarted %v\n%s", page(mp2), clitest.State(t, e, stop).Running, clitest.State(t, e, stop).StartedAt != before, out)
	}

	// A destination volume that an application on the other engine uses.
	host, e2 := clitest.ConnectedSecondEngine(t)
	clitest.StartApp(t, e2, clitest.AppImage(t, e2), p+"theirs", p+"vplain", nil)
	theirs := clitest.Mountpoint(t, e2, p+"vplain")
	setPage(theirs, "theirs")
	tried := 0
	for _, extra := range [][]string{nil, {"--live"}, {"--direct"}, {"--stop-source"}} {
		args := append([]string{"migrate", p + "vplain", "--to", host, "--force"}, extra...)
		r := c.Fails(1, "in use by a running container", args...)
		if !strings.Contains(r.Stderr, p+"theirs") || page(theirs) != "theirs" || !clitest.State(t, e, plain).Running {
			t.Fatalf("%v: destination page %q, source running %v\n%s%s", args, page(theirs), clitest.State(t, e, plain).Running, r.Stdout, r.Stderr)
		}
		tried++
	}
	if tried != 4 {
		t.Fatalf("tried %d migrations", tried)
	}
}
