package volumes

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
)

// Labels on application containers: stop and pause are undone after the
// backup, pre and post hooks run (a pre hook's dump is in the snapshot),
// a failing pre hook skips its volume, and an unlabelled user is warned
// about.
func TestConsistencyLabels(t *testing.T) {
	e := lb.Engine(t)
	image := clitest.AppImage(t, e)
	p := fmt.Sprintf("lbc%d-", os.Getpid())
	stopID := clitest.StartApp(t, e, image, p+"stop", p+"vstop", map[string]string{"lifeboat.stop": "true"})
	pauseID := clitest.StartApp(t, e, image, p+"pause", p+"vpause", map[string]string{"lifeboat.pause": "true"})
	clitest.StartApp(t, e, image, p+"hook", p+"vhook", map[string]string{
		"lifeboat.pre":  "echo 'CREATE TABLE t;' > /data/dump.sql && echo dumped",
		"lifeboat.post": "touch /data/post-ran",
	})
	badID := clitest.StartApp(t, e, image, p+"bad", p+"vbad", map[string]string{"lifeboat.pre": "echo refusing; exit 3"})
	clitest.StartApp(t, e, image, p+"plain", p+"vplain", nil)
	preStopID := clitest.StartApp(t, e, image, p+"prestop", p+"vprestop", map[string]string{"lifeboat.stop": "true",
		"lifeboat.pre-stop": "echo checkpointed > /data/checkpoint && echo flushed"})
	clitest.StartApp(t, e, image, p+"badstop", p+"vbadstop", map[string]string{"lifeboat.stop": "true", "lifeboat.pre-stop": "exit 4"})

	c := lb.CLI(t)
	c.OK("init")
	// While a labelled volume is copied, its container is stopped or paused.
	for v, id := range map[string]string{"vstop": stopID, "vpause": pauseID} {
		mp := clitest.Mountpoint(t, e, p+v)
		if err := os.WriteFile(filepath.Join(mp, "big.bin"), treetest.RandomBytes(9, 256<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := c.Cmd("backup", p+v)
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
			st := clitest.State(t, e, id)
			if (v == "vstop" && !st.Running) || (v == "vpause" && st.Paused) {
				seen = true
			}
		}
		if !seen {
			t.Fatalf("%s: the container was not stopped or paused during the backup", v)
		}
	}
	startedBefore := clitest.State(t, e, stopID).StartedAt
	for _, v := range []string{"vstop", "vpause", "vhook", "vplain"} {
		r := c.Run("backup", p+v)
		if r.Code != 0 {
			t.Fatalf("backup %s: exit %d\n%s\n%s", v, r.Code, r.Stdout, r.Stderr)
		}
		if v == "vplain" && !strings.Contains(r.Stderr, "may be inconsistent") {
			t.Fatalf("no warning for an unlabelled user:\n%s", r.Stderr)
		}
		if v == "vhook" && !strings.Contains(r.Stdout, "pre hook "+p+"hook: dumped") {
			t.Fatalf("hook output not logged:\n%s", r.Stdout)
		}
	}
	if s := clitest.State(t, e, stopID); !s.Running || s.StartedAt == startedBefore {
		t.Fatalf("stop label: running %v, restarted %v", s.Running, s.StartedAt != startedBefore)
	}
	if s := clitest.State(t, e, pauseID); !s.Running || s.Paused {
		t.Fatalf("pause label: running %v paused %v", s.Running, s.Paused)
	}
	if ls := c.OK("ls", "latest", "--volume", p+"vhook"); !strings.Contains(ls, "dump.sql") {
		t.Fatalf("the pre hook's dump is not in the snapshot:\n%s", ls)
	}
	if _, err := os.Stat(filepath.Join(clitest.Mountpoint(t, e, p+"vhook"), "post-ran")); err != nil {
		t.Fatalf("post hook did not run: %v", err)
	}
	// The users of a volume are recorded with its snapshot.
	snaps := clitest.LastMessage[results.Snapshots](t, c.OK("snapshots", "--volume", p+"vstop", "--json"), "snapshots").Snapshots
	if len(snaps) == 0 || snaps[0].Volume == nil {
		t.Fatalf("snapshots of %svstop: %+v", p, snaps)
	}
	users := snaps[0].Volume.Containers
	if len(users) != 1 || users[0] != p+"stop" {
		t.Fatalf("containers recorded: %v", users)
	}
	// --volumes-from attaches a container's volumes at their own paths.
	c.OK("backup", "--volumes-from", p+"plain", "--tag", "from")
	snaps = clitest.LastMessage[results.Snapshots](t, c.OK("snapshots", "--tag", "from", "--json"), "snapshots").Snapshots
	if len(snaps) != 1 || len(snaps[0].Paths) != 1 || snaps[0].Paths[0] != "/data" || snaps[0].Volume == nil || snaps[0].Volume.Name != p+"vplain" {
		t.Fatalf("--volumes-from snapshot: %v", snaps)
	}
	r := c.Fails(1, "pre hook failed", "backup", p+"vbad")
	if !strings.Contains(r.Stderr, "exited with status 3") {
		t.Fatalf("failing hook: %s", r.Stderr)
	}
	if out := c.OK("snapshots", "--volume", p+"vbad"); !strings.Contains(out, "\n0 snapshots") {
		t.Fatalf("a volume whose pre hook failed was backed up:\n%s", out)
	}
	if !clitest.State(t, e, badID).Running {
		t.Fatal("container of the failing hook is not running")
	}

	// A pre-stop hook runs before the stop, its writes in the snapshot; one
	// that fails is a warning, and the container is stopped anyway.
	if out := c.OK("backup", p+"vprestop"); !strings.Contains(out, "pre-stop hook "+p+"prestop: flushed") {
		t.Fatalf("pre-stop hook output not logged:\n%s", out)
	}
	if ls := c.OK("ls", "latest", "--volume", p+"vprestop"); !strings.Contains(ls, "checkpoint") {
		t.Fatalf("what the pre-stop hook wrote is not in the snapshot:\n%s", ls)
	}
	if !clitest.State(t, e, preStopID).Running {
		t.Fatal("the container with a pre-stop hook is not running again")
	}
	if r := c.Run("backup", p+"vbadstop"); r.Code != 0 || !strings.Contains(r.Stderr, "stopping it anyway") {
		t.Fatalf("a failing pre-stop hook: exit %d\n%s", r.Code, r.Stderr)
	}
}
