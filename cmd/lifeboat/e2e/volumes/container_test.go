package volumes

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// inContainer runs lifeboat inside a container of its own image, as the
// compose example deploys it: the engine's socket, the repository and the
// config bound in, the password as a secret file. It returns the exit code
// and the output.
func inContainer(t *testing.T, e *sidecar.Engine, repo, config, password string, args ...string) (int, string) {
	t.Helper()
	ctx := context.Background()
	image, err := e.EnsureImage(ctx, lb.Path, lb.Version)
	if err != nil {
		t.Fatal(err)
	}
	mounts := []mount.Mount{
		{Type: mount.TypeBind, Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
		{Type: mount.TypeBind, Source: repo, Target: "/backups"},
		{Type: mount.TypeBind, Source: password, Target: "/run/secrets/lifeboat-password", ReadOnly: true},
	}
	if config != "" {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: config, Target: "/etc/lifeboat/lifeboat.yml", ReadOnly: true})
	}
	var out bytes.Buffer
	code, err := e.Run(ctx, sidecar.RunSpec{Image: image, Args: args, Mounts: mounts, Network: "none", Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("run lifeboat in a container: %v\n%s", err, out.String())
	}
	return code, out.String()
}

// lifeboat in a container, as examples/compose.yml runs it, backs up a
// labelled volume on a daemon job and restores the snapshot into a fresh
// volume: the password, the plan and the repository reach its sidecars
// without host paths that exist only inside lifeboat's container.
func TestLifeboatInAContainer(t *testing.T) {
	treetest.RequireRoot(t)
	e := lb.Engine(t)
	ctx := context.Background()
	dir := t.TempDir()
	repo := filepath.Join(dir, "backups")
	if err := os.Mkdir(repo, 0o700); err != nil {
		t.Fatal(err)
	}
	password := filepath.Join(dir, "lifeboat-password")
	if err := os.WriteFile(password, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mark := fmt.Sprintf("%d", os.Getpid())
	config := filepath.Join(dir, "lifeboat.yml")
	if err := os.WriteFile(config, []byte(`repo: /backups
password-file: /run/secrets/lifeboat-password
daemon:
  jobs:
    - name: nightly
      schedule: "0 3 * * *"
      labels: ["com.example.backup=`+mark+`"]
      tags: [nightly]
      keep:
        last: 3
`), 0o600); err != nil {
		t.Fatal(err)
	}
	vol, fresh := "lbc-"+mark, "lbc-"+mark+"-restored"
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol, Labels: map[string]string{"com.example.backup": mark}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, v := range []string{vol, fresh} {
			_, _ = e.Client().VolumeRemove(context.Background(), v, client.VolumeRemoveOptions{Force: true})
		}
	})
	treetest.Build(t, clitest.Mountpoint(t, e, vol))

	host := lb.CLIOn(t, repo, []string{"LIFEBOAT_PASSWORD=correct horse"})
	host.OK("init")
	if code, out := inContainer(t, e, repo, config, password, "daemon", "--config", "/etc/lifeboat/lifeboat.yml", "--once", "nightly"); code != 0 {
		t.Fatalf("the daemon's job in a container: exit %d\n%s", code, out)
	}
	if out := host.OK("snapshots", "--volume", vol, "--tag", "job:nightly"); !strings.Contains(out, "\n1 snapshot\n") {
		t.Fatalf("no snapshot of the job:\n%s", out)
	}
	// A re-created container (a new id, its host name) records the same
	// host, the engine's: the second snapshot has the first as parent.
	if code, out := inContainer(t, e, repo, config, password, "daemon", "--config", "/etc/lifeboat/lifeboat.yml", "--once", "nightly"); code != 0 {
		t.Fatalf("the daemon's job in a second container: exit %d\n%s", code, out)
	}
	engineHost, err := e.HostName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snaps := clitest.LastMessage[results.Snapshots](t, host.OK("snapshots", "--volume", vol, "--json"), "snapshots").Snapshots
	if len(snaps) != 2 || snaps[0].Host != engineHost || snaps[1].Host != engineHost {
		t.Fatalf("snapshots from two containers: %+v, want both of host %q", snaps, engineHost)
	}
	first, second := snaps[0], snaps[1]
	if first.Time > second.Time {
		first, second = second, first
	}
	if second.Parent != first.ID {
		t.Fatalf("the second container's snapshot has parent %q, want %s", second.Parent, first.ID)
	}
	code, out := inContainer(t, e, repo, config, password, "restore", "latest", "--volume", vol, "--to-volume", fresh)
	if code != 0 {
		t.Fatalf("restore in a container: exit %d\n%s", code, out)
	}
	if err := treetest.Compare(clitest.Mountpoint(t, e, vol), clitest.Mountpoint(t, e, fresh)); err != nil {
		t.Fatalf("the restored volume differs:\n%v", err)
	}

	// A repository on no mount of lifeboat's container is refused, clearly.
	code, out = inContainer(t, e, repo, "", password, "backup", vol, "--repo", "/tmp/nowhere", "--password-file", "/run/secrets/lifeboat-password")
	if code == 0 || !strings.Contains(out, "lifeboat's own container file system") {
		t.Fatalf("a repository inside the container: exit %d\n%s", code, out)
	}
}

// A local repository that the engine's host does not have is a clear error
// that states the rule, not the engine's "bind source path does not exist".
func TestLocalRepositoryMissingOnEngineHost(t *testing.T) {
	e := lb.Engine(t)
	vol := fmt.Sprintf("lbr-%d", os.Getpid())
	if _, err := e.Client().VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: vol}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
	})
	c := lb.CLIOn(t, filepath.Join(t.TempDir(), "not-there"), []string{"LIFEBOAT_PASSWORD=correct horse"})
	c.Fails(1, "a local repository must exist at", "backup", vol)
}
