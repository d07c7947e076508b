package volumes

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/lifeboat-backup/lifeboat/targets/local"
	"github.com/moby/moby/client"
)

// A volume full of every kind of metadata is backed up through the
// sidecar, restored under a new name and, after removal, under its own
// name, each time equal byte for byte and attribute by attribute, with its
// labels.
func TestVolumeBackupRestore(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	c := lb.CLI(t)
	vol := fmt.Sprintf("lbv-%d", os.Getpid())
	copyVol := vol + "-copy"
	for _, name := range []string{vol, copyVol} {
		name := name
		t.Cleanup(func() {
			_, _ = e.Client().VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{Force: true})
		})
	}
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol, Labels: map[string]string{"app": "shop", "tier": "db"}}); err != nil {
		t.Fatal(err)
	}
	treetest.Build(t, clitest.Mountpoint(t, e, vol))

	c.OK("init")
	sum := clitest.LastMessage[messages.BackupSummary](t, c.OK("backup", vol, "--tag", "vol", "--json"), "summary")
	if sum.Incomplete || sum.SnapshotID == "" {
		t.Fatalf("summary: %+v", sum)
	}
	snaps := clitest.LastMessage[results.Snapshots](t, c.OK("snapshots", "--volume", vol, "--json"), "snapshots").Snapshots
	if len(snaps) != 1 || snaps[0].Volume == nil {
		t.Fatalf("snapshots of the volume: %+v", snaps)
	}
	info := snaps[0].Volume
	if info.Name != vol || info.Driver != "local" || info.Labels["tier"] != "db" {
		t.Fatalf("volume info: %+v", info)
	}

	c.OK("restore", "latest", "--volume", vol, "--to-volume", copyVol)
	if err := treetest.Compare(clitest.Mountpoint(t, e, vol), clitest.Mountpoint(t, e, copyVol)); err != nil {
		t.Fatalf("restored volume differs:\n%v", err)
	}
	vs, _ := e.Volumes(ctx, sidecar.Selection{Names: []string{copyVol}})
	id := snaps[0].ID
	if vs[0].Labels["app"] != "shop" || vs[0].Labels["org.lifeboat.restored-from"] != id {
		t.Fatalf("labels of the restored volume: %v", vs[0].Labels)
	}
	// A volume that is not empty is refused without --force.
	c.Fails(1, "not empty", "restore", "latest", "--volume", vol, "--to-volume", copyVol)
	c.OK("restore", "latest", "--volume", vol, "--to-volume", copyVol, "--force")

	// The volume is removed; restoring by its name recreates it as it was.
	if _, err := e.Client().VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	c.OK("restore", id[:8], "--to-volume", vol)
	if err := treetest.Compare(clitest.Mountpoint(t, e, copyVol), clitest.Mountpoint(t, e, vol)); err != nil {
		t.Fatalf("recreated volume differs:\n%v", err)
	}
	c.Fails(1, "no volume", "backup", vol+"-nope")

	// Several volumes in one run: one sidecar, one snapshot each.
	out := c.OK("backup", "--label", "app=shop", "--tag", "multi")
	if strings.Count(out, "snapshot ") != 2 {
		t.Fatalf("two volumes labelled app=shop, output:\n%s", out)
	}
	multi := clitest.LastMessage[results.Snapshots](t, c.OK("snapshots", "--tag", "multi", "--json"), "snapshots").Snapshots
	names := map[string]bool{}
	for _, s := range multi {
		if s.Volume != nil {
			names[s.Volume.Name] = true
		}
	}
	if len(multi) != 2 || !names[vol] || !names[copyVol] {
		t.Fatalf("snapshots of the multi-volume run: %v", names)
	}
}

// Unknown containers, an unreachable engine and a sidecar killed mid-run
// give clear errors; nothing is left running and the repository is valid.
func TestVolumeErrors(t *testing.T) {
	e := lb.Engine(t)
	ctx := context.Background()
	c := lb.CLI(t)
	c.OK("init")
	c.Fails(1, "no-such-container", "backup", "--container", "no-such-container")
	unreachable := *c
	unreachable.Env = append(unreachable.Env, "DOCKER_HOST=unix:///nonexistent/docker.sock")
	unreachable.Fails(1, "cannot reach the Docker engine", "backup", "somevolume")
	c.Fails(2, "not both", "backup", "somevolume", "--path", "/tmp")

	vol := fmt.Sprintf("lbk-%d", os.Getpid())
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	mp := clitest.Mountpoint(t, e, vol)
	for i := 0; i < 6; i++ {
		if err := os.WriteFile(fmt.Sprintf("%s/f%d", mp, i), treetest.RandomBytes(uint64(i), 64<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := c.Cmd("backup", vol)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// On a failure below, the backup and its sidecar end before the volume
	// is removed (cleanups run last first), so that nothing is left.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		for _, id := range sidecarsOf(t, e, vol) {
			_, _ = e.Client().ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true})
		}
	})
	sidecars := func() []string { return sidecarsOf(t, e, vol) }
	deadline := time.Now().Add(60 * time.Second)
	killed := false
	for time.Now().Before(deadline) && !killed {
		if ids := sidecars(); len(ids) > 0 {
			// The password reaches the sidecar on its standard input,
			// never in its configuration.
			ins, err := e.Client().ContainerInspect(ctx, ids[0], client.ContainerInspectOptions{})
			if err != nil {
				t.Logf("inspect the sidecar: %v (looking again)", err)
				time.Sleep(20 * time.Millisecond)
				continue
			}
			b, _ := json.Marshal(ins.Container)
			if strings.Contains(string(b), "correct horse") {
				t.Fatal("the password shows in docker inspect")
			}
			// Killed once it has written a pack, mid-run.
			for time.Now().Before(deadline) {
				if packs, _ := filepath.Glob(filepath.Join(c.Repo, "data", "*", "*")); len(packs) > 0 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			_, _ = e.Client().ContainerKill(ctx, ids[0], client.ContainerKillOptions{})
			killed = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := cmd.Wait()
	if !killed || clitest.ExitCode(err) == 0 {
		t.Fatalf("killed %v, exit %v\n%s", killed, err, out.String())
	}
	if !strings.Contains(out.String(), vol) {
		t.Fatalf("the error does not name the volume:\n%s", out.String())
	}
	if ids := sidecars(); len(ids) != 0 {
		t.Fatalf("sidecars left: %v", ids)
	}
	// The killed sidecar could not release its lock; lifeboat did.
	if locks, _ := filepath.Glob(filepath.Join(c.Repo, "locks", "*")); len(locks) != 0 || !strings.Contains(out.String(), "locks of the stopped sidecar") {
		t.Fatalf("locks left after the killed sidecar: %v\n%s", locks, out.String())
	}
	c.OK("check")
	c.OK("backup", vol) // and the next run completes

	// While a prune holds the exclusive lock, a volume backup says so.
	tg, err := local.New(c.Repo)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Open(ctx, tg, []byte("correct horse"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	lock, err := repo.Lock(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	c.Fails(11, "locked", "backup", vol)
	_ = lock.Unlock(ctx)
}

// A volume goes to an S3 repository through the sidecar, which reaches the
// store as the host does, and comes back into a fresh volume.
func TestVolumeToS3(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	srv := testservers.StartS3(t)
	srv.Bucket(t, "volumes")
	ctx := context.Background()
	vol := fmt.Sprintf("lbs3-%d", os.Getpid())
	for _, name := range []string{vol, vol + "-back"} {
		name := name
		t.Cleanup(func() {
			_, _ = e.Client().VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{Force: true})
		})
	}
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clitest.Mountpoint(t, e, vol)+"/data.bin", treetest.RandomBytes(5, 3<<20), 0o640); err != nil {
		t.Fatal(err)
	}
	// Credentials from a shared file and a profile given as a flag: the
	// sidecar gets the file mounted and the setting passed on.
	creds := t.TempDir() + "/credentials"
	if err := os.WriteFile(creds, []byte("[vols]\naws_access_key_id = "+srv.AccessKey+"\naws_secret_access_key = "+srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := lb.CLIOn(t, "s3://volumes/docker", []string{"LIFEBOAT_PASSWORD=pw",
		"AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_CONFIG_FILE=/dev/null", "AWS_REGION=us-east-1"})
	c.OK("init", "--s3-profile", "vols", "--s3-endpoint", srv.Endpoint, "--s3-path-style")
	c.OK("backup", vol, "--s3-profile", "vols", "--s3-endpoint", srv.Endpoint, "--s3-path-style")
	c.Env = append(c.Env, "LIFEBOAT_S3_PROFILE=vols", "LIFEBOAT_S3_ENDPOINT="+srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true")
	c.OK("restore", "latest", "--volume", vol, "--to-volume", vol+"-back")
	if err := treetest.Compare(clitest.Mountpoint(t, e, vol), clitest.Mountpoint(t, e, vol+"-back")); err != nil {
		t.Fatal(err)
	}
}

// sidecarsOf lists the sidecars that mount vol (other tests run sidecars too).
func sidecarsOf(t *testing.T, e *sidecar.Engine, vol string) []string {
	res, err := e.Client().ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", sidecar.LabelSidecar+"=true").Add("volume", vol)})
	if err != nil {
		t.Errorf("list sidecars: %v", err)
		return nil
	}
	var ids []string
	for _, it := range res.Items {
		ids = append(ids, it.ID)
	}
	return ids
}
