package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/dockerd"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/client"
)

// The swarm scenario: the moves scenario's volume and page writer, as a
// swarm service on node-1 of a two-node swarm on this machine
// (dockerd.StartSwarm), moved to node-2 and back with `lifeboat service
// move`: once stopped for the whole copy, once --live. The repository is
// a local directory both nodes' sidecars mount; each move goes into a
// fresh repository and a destination without the volume, as in the moves
// scenario.

var swarmSection = section{"<!-- swarm: written by go run ./bench -swarm -->", "<!-- end of swarm -->"}

const swarmService = "lifeboat-bench-db"

// swarmRun is one run's downtimes, in seconds.
type swarmRun struct {
	stopCopy, live, direct float64
	rounds                 int
	lastSent               int64
}

func runSwarm(s sizes, outFile, work, lb string, runs int) error {
	ctx := context.Background()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("the application image needs busybox-static: %w", err)
	}
	fmt.Println("swarm: starting a swarm of two engines")
	sw, err := dockerd.StartSwarm(ctx, work, 2)
	if err != nil {
		return err
	}
	defer sw.Stop()
	var es []*sidecar.Engine
	for _, n := range sw.Nodes {
		e, err := sidecar.Connect(ctx, n.Engine.Host)
		if err != nil {
			return err
		}
		defer e.Close()
		es = append(es, e)
	}
	files := []sidecar.ImageFile{{Path: "bin/", Mode: 0o755}, {Path: "bin/busybox", Mode: 0o755, Data: bb}, {Path: "tmp/", Mode: 0o1777}}
	for _, tool := range []string{"sh", "sleep", "dd", "stat"} {
		files = append(files, sidecar.ImageFile{Path: "bin/" + tool, Link: "busybox"})
	}
	if err := es[0].LoadImage(ctx, movesImage+":1", files, []string{"/bin/sh", "-c", pageWriterScript}, nil); err != nil {
		return err
	}
	if _, err := es[0].Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: movesVolume}); err != nil {
		return err
	}
	vols, err := es[0].Volumes(ctx, sidecar.Selection{Names: []string{movesVolume}})
	if err != nil {
		return err
	}
	fmt.Printf("swarm: generating the volume (%s large file, %d small files)\n", mib(s.LargeBytes), s.SmallFiles)
	if err := generate(vols[0].Mountpoint, sizes{LargeBytes: s.LargeBytes, SmallFiles: s.SmallFiles}); err != nil {
		return err
	}
	volumeBytes := dirSize(vols[0].Mountpoint)
	if _, err := sw.Docker(sw.Manager(), "service", "create", "--detach", "--name", swarmService, "--label", "lifeboat.follow=true",
		"--no-resolve-image", "--network", "host", "--constraint", "node.hostname==node-1", "--stop-grace-period", "5s",
		"--mount", "type=volume,source="+movesVolume+",target=/data", movesImage+":1"); err != nil {
		return err
	}
	m := &mover{lb: lb, env: []string{"DOCKER_HOST=" + sw.Manager().Engine.Host}}
	nodeFlags := []string{}
	for _, n := range sw.Nodes {
		nodeFlags = append(nodeFlags, "--node", n.Name+"="+n.Engine.Host)
	}
	// move moves the service to node i (0 or 1) into a fresh repository and
	// a destination without the volume, once it has run there a while.
	move := func(run int, name string, to int, extra ...string) (moveReport, error) {
		var rep moveReport
		from := 1 - to
		if err := awaitTask(sw, sw.Nodes[from].Name); err != nil {
			return rep, err
		}
		time.Sleep(3 * time.Second) // a benchmark's warm-up, not a test's wait
		// The destination's old copy and the stopped tasks that used it.
		_, _ = sw.Docker(sw.Nodes[to], "container", "prune", "--force")
		removeVolumes(ctx, es[to], movesVolume)
		repo := filepath.Join(work, fmt.Sprintf("swarm-%s-%d", name, run))
		defer os.RemoveAll(repo)
		cmd := exec.Command(lb, "init", "-q")
		cmd.Env = append(os.Environ(), "LIFEBOAT_REPOSITORY="+repo, "LIFEBOAT_PASSWORD="+password)
		if out, err := cmd.CombinedOutput(); err != nil {
			return rep, fmt.Errorf("lifeboat init: %v\n%s", err, out)
		}
		waitIdle(30 * time.Second)
		args := append(append([]string{"service", "move", swarmService, "--to", sw.Nodes[to].Name}, extra...), nodeFlags...)
		err := m.lifeboat(repo, "service_move", &rep, args...)
		return rep, err
	}
	var rs []swarmRun
	for i := range runs {
		var r swarmRun
		rep, err := move(i, "stopcopy", 1)
		if err != nil {
			return err
		}
		r.stopCopy = rep.Downtime
		if rep, err = move(i, "live", 0, "--live"); err != nil {
			return err
		}
		r.live, r.rounds = rep.Downtime, len(rep.Rounds)
		if len(rep.Rounds) > 0 {
			r.lastSent = rep.Rounds[len(rep.Rounds)-1].Sent
		}
		if rep, err = move(i, "direct", 1, "--live", "--direct"); err != nil {
			return err
		}
		r.direct = rep.Downtime
		// Back to node-1 for the next run (not measured).
		if _, err = move(i, "back", 0); err != nil {
			return err
		}
		fmt.Printf("swarm run %d: %+v\n", i+1, r)
		rs = append(rs, r)
	}
	return swarmSection.write(outFile, swarmTable(rs, volumeBytes, s))
}

// awaitTask waits (at most two minutes) until the service's task runs on
// node.
func awaitTask(sw *dockerd.Swarm, node string) error {
	var out string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, _ = sw.Docker(sw.Manager(), "service", "ps", swarmService, "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}")
		if strings.HasPrefix(out, node+" Running") {
			return nil
		}
	}
	return fmt.Errorf("the service does not run on %s: %s", node, out)
}

func swarmTable(rs []swarmRun, volumeBytes int64, s sizes) string {
	med := func(get func(swarmRun) float64) float64 { return medianOf(rs, get) }
	stopCopy, live := med(func(r swarmRun) float64 { return r.stopCopy }), med(func(r swarmRun) float64 { return r.live })
	rounds, last := med(func(r swarmRun) float64 { return float64(r.rounds) }), med(func(r swarmRun) float64 { return float64(r.lastSent) })
	var b strings.Builder
	fmt.Fprintf(&b, "## A swarm service moved between nodes\n\n")
	fmt.Fprintf(&b, "The moves scenario's volume (%s: a %s file whose 8 KiB pages the service's task rewrites about fifty times a second, and %d small files) "+
		"under a swarm service on node-1 of a two-node swarm on this machine (each engine in namespaces of its own), moved with `lifeboat service move` "+
		"to node-2 and back (through a local repository, or --direct); medians of %d runs. Downtime runs from the stop of the service's task to its task running "+
		"on the other node, as the swarm reports it.\n\n", mib(volumeBytes), mib(s.LargeBytes), s.SmallFiles, len(rs))
	fmt.Fprintf(&b, "| | downtime | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| stop and copy (`service move`) | %.2f s | |\n", stopCopy)
	direct := med(func(r swarmRun) float64 { return r.direct })
	fmt.Fprintf(&b, "| `service move --live` (%.0f rounds, the last %s) | %.2f s (%.1f%% of stop and copy) | ≤ 10%% and < 3 s: %s |\n",
		rounds, mib(int64(last)), live, 100*live/stopCopy, verdict(live <= stopCopy/10 && live < 3))
	fmt.Fprintf(&b, "| `service move --live --direct` (the rounds streamed between the nodes' sidecars) | %.2f s (%.1f%% of stop and copy) | ≤ 10%% and < 3 s: %s |\n",
		direct, 100*direct/stopCopy, verdict(direct <= stopCopy/10 && direct < 3))
	return b.String()
}
