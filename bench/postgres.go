package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// The PostgreSQL scenario: what moving or upgrading a real database under
// load costs it. A PostgreSQL server (any image that runs like
// ../shared/tools/mkpgimage.sh's lifeboat-test/postgres:15: the server as
// PID 1, pg_isready, psql, pgbench and pg_amcheck inside, trust auth on its
// socket) holds a pgbench database, labelled lifeboat.stop=true and
// lifeboat.pre-stop (a CHECKPOINT). While
// pgbench runs (at -pg-rate transactions a second, or as fast as it can)
// and a loop inserts a counter, one commit at a time, lifeboat moves it to
// a second engine (or upgrades it in place). Measured from outside: the
// longest time between two acknowledged commits, the last on the old
// server and the first on the new one. Checked on the new server: every
// counter value acknowledged before the stop is there, pgbench's balances
// add up, and pg_amcheck --heapallindexed finds nothing.
//
// Modes, each on a fresh copy of the same database:
//   - stop and copy: migrate --container --stop-source --start
//   - live: the same with --live (and without the pre-stop label once)
//   - live direct: the same with --live --direct
//   - upgrade: upgrade --image (copies while it runs, stops, final delta)
//   - direct again: migrate --direct --stop-source once (the baseline), the
//     server started again for 30 s of load, then the same with --start,
//     which sends what changed into the copy the first left.

const (
	pgApp      = "lifeboat-bench-pg"
	pgVolume   = "lifeboat-bench-pg-data"
	pgTemplate = "lifeboat-bench-pg-template"
	pgData     = "/var/lib/postgresql/data"
	pgDB       = "bench"
)

// pgOptions are the scenario's flags.
type pgOptions struct {
	image string
	scale int // pgbench's scale factor (20: about 300 MiB of tables)
	rate  int // pgbench's transactions per second; 0: as fast as it goes
	load  time.Duration
}

// pgMove is one mode's measurements.
type pgMove struct {
	mode      string
	lifeboat  float64 // the downtime lifeboat reported, seconds
	gap       float64 // the longest time without an acknowledged commit, seconds
	baseline  float64 // direct again: the first --direct's downtime
	rounds    int
	lastBytes int64   // written after the stop (live: the last round)
	tps       float64 // pgbench's rate before the move
	acked     int     // counter values acknowledged before the stop
	// From the old server's last commit to lifeboat's return (seconds).
	returned float64
}

// runPostgres measures the scenario and writes its section of outFile.
func runPostgres(outFile, work, lb string, runs int, o pgOptions) error {
	table, err := postgres(work, lb, runs, o)
	if err != nil {
		return err
	}
	return pgSection(o.rate).write(outFile, table)
}

// pgSection is the scenario's section of the report at a rate: each rate
// measured has its own.
func pgSection(rate int) section {
	name, flag := "postgres full rate", "-pg-rate 0"
	if rate > 0 {
		name, flag = fmt.Sprintf("postgres at %d tps", rate), fmt.Sprintf("-pg-rate %d", rate)
	}
	return section{"<!-- " + name + ": written by go run ./bench -postgres " + flag + " -->", "<!-- end of " + name + " -->"}
}

func postgres(work, lb string, runs int, o pgOptions) (string, error) {
	ctx := context.Background()
	if _, err := exec.LookPath("docker"); err != nil {
		return "", errors.New("the scenario drives the servers with the docker command, which is not installed")
	}
	en, err := startEngines(ctx, work, "postgres")
	if err != nil {
		return "", err
	}
	defer en.close()
	if !en.src.ImageExists(ctx, o.image) {
		return "", fmt.Errorf("no image %s on the engine: build it with ../shared/tools/mkpgimage.sh, or name a PostgreSQL image like it with -pg-image", o.image)
	}
	p := &pgBench{o: o, lb: lb, work: work, e: [2]*sidecar.Engine{en.src, en.dst}, hosts: [2]string{"", en.dstHost}}
	defer p.cleanup()
	// The image on the destination beforehand: sending it is not part of
	// any downtime (migrate --start sends it before it stops anything), and
	// the upgrade's image is the same server under a second name.
	if err := p.prepareImages(ctx); err != nil {
		return "", err
	}
	fmt.Printf("postgres: initialising pgbench at scale %d\n", o.scale)
	if err := p.template(ctx); err != nil {
		return "", err
	}
	var all []pgMove
	for i := range runs {
		for _, mode := range pgModes {
			mv, err := p.move(ctx, mode, i)
			if err != nil {
				return "", fmt.Errorf("%s: %w", mode, err)
			}
			fmt.Printf("postgres run %d %-13s lifeboat %.2f s, from outside %.2f s (lifeboat returned at %.2f s), %d rounds, %s after the stop, %.0f tps, %d commits checked\n",
				i+1, mode, mv.lifeboat, mv.gap, mv.returned, mv.rounds, mib(mv.lastBytes), mv.tps, mv.acked)
			all = append(all, mv)
		}
	}
	return p.table(all, runs), nil
}

// pgModes are the modes in the order they run and are shown.
var pgModes = []string{"stop and copy", "live, no pre-stop", "live", "live direct", "upgrade", "direct again"}

// pgModeNames are the commands of the modes, for the report.
var pgModeNames = map[string]string{
	"stop and copy":     "`migrate --stop-source --start`",
	"live, no pre-stop": "`migrate --live --stop-source --start`, no `lifeboat.pre-stop`",
	"live":              "`migrate --live --stop-source --start`",
	"live direct":       "`migrate --live --direct --stop-source --start`",
	"upgrade":           "`upgrade`",
	"direct again":      "`migrate --direct --stop-source --start`, a copy there",
}

// pgBench drives the servers: engine 0 is the source, 1 the destination.
type pgBench struct {
	o        pgOptions
	lb, work string
	e        [2]*sidecar.Engine
	hosts    [2]string // for the docker command: "" is the default engine
	volBytes int64
}

func (p *pgBench) upgradeImage() string { return pgApp + ":upgrade" }

func (p *pgBench) prepareImages(ctx context.Context) error {
	if _, err := p.e[0].Client().ImageTag(ctx, client.ImageTagOptions{Source: p.o.image, Target: p.upgradeImage()}); err != nil {
		return err
	}
	if p.e[1].ImageExists(ctx, p.o.image) {
		return nil
	}
	rc, err := p.e[0].SaveImage(ctx, p.o.image)
	if err != nil {
		return err
	}
	defer rc.Close()
	return p.e[1].LoadImages(ctx, rc)
}

// docker runs the docker command on engine i.
func (p *pgBench) docker(i int, args ...string) *exec.Cmd {
	if p.hosts[i] != "" {
		args = append([]string{"-H", p.hosts[i]}, args...)
	}
	return exec.Command("docker", args...)
}

// sql runs statements with psql on the server of engine i and returns
// what they printed (unaligned, tuples only).
func (p *pgBench) sql(i int, statements string) (string, error) {
	out, err := p.docker(i, "exec", "-u", "postgres", pgApp, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", pgDB, "-c", statements).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql %q: %v: %s", statements, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// waitReady polls pg_isready on engine i every 0.1 s.
func (p *pgBench) waitReady(i int, within time.Duration) error {
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		if p.docker(i, "exec", "-u", "postgres", pgApp, "pg_isready", "-q").Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server on engine %d was not ready within %v", i+1, within)
		}
	}
}

// pgPreStop is the pre-stop hook the servers are labelled with (but in
// the mode that shows what it saves): a checkpoint, so that the shutdown
// has little left to write.
const pgPreStop = "psql -X -U postgres -c CHECKPOINT"

// startServer creates and starts the server on engine 0 over volume,
// labelled lifeboat.stop=true and, with preStop, lifeboat.pre-stop.
func (p *pgBench) startServer(ctx context.Context, volume string, preStop bool) error {
	labels := map[string]string{sidecar.LabelStop: "true"}
	if preStop {
		labels[sidecar.LabelPreStop] = pgPreStop
	}
	c := p.e[0].Client()
	if _, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: pgApp,
		Config: &container.Config{Image: p.o.image, Labels: labels},
		HostConfig: &container.HostConfig{NetworkMode: "none",
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: pgData}}}}); err != nil {
		return err
	}
	if _, err := c.ContainerStart(ctx, pgApp, client.ContainerStartOptions{}); err != nil {
		return err
	}
	return p.waitReady(0, 2*time.Minute)
}

// template makes the database every mode starts from, in a volume of its
// own, the server stopped cleanly.
func (p *pgBench) template(ctx context.Context) error {
	if _, err := p.e[0].Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: pgTemplate}); err != nil {
		return err
	}
	if err := p.startServer(ctx, pgTemplate, false); err != nil {
		return err
	}
	if out, err := p.docker(0, "exec", "-u", "postgres", pgApp, "createdb", pgDB).CombinedOutput(); err != nil {
		return fmt.Errorf("createdb: %v: %s", err, out)
	}
	if out, err := p.docker(0, "exec", "-u", "postgres", pgApp, "pgbench", "-i", "-q", "-s", strconv.Itoa(p.o.scale), pgDB).CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v: %s", err, out)
	}
	if _, err := p.sql(0, "CREATE TABLE counter (n bigint PRIMARY KEY); CHECKPOINT"); err != nil {
		return err
	}
	if err := p.removeServer(ctx, 0); err != nil {
		return err
	}
	p.volBytes = dirSize(p.mountpoint(ctx, 0, pgTemplate))
	return nil
}

func (p *pgBench) mountpoint(ctx context.Context, i int, volume string) string {
	vs, err := p.e[i].Volumes(ctx, sidecar.Selection{Names: []string{volume}})
	if err != nil || len(vs) != 1 {
		return ""
	}
	return vs[0].Mountpoint
}

// removeServer stops the server on engine i (as docker stop does: a fast
// shutdown) and removes its container.
func (p *pgBench) removeServer(ctx context.Context, i int) error {
	c := p.e[i].Client()
	if _, err := c.ContainerStop(ctx, pgApp, client.ContainerStopOptions{}); err != nil {
		return err
	}
	_, err := c.ContainerRemove(ctx, pgApp, client.ContainerRemoveOptions{Force: true})
	return err
}

// fresh puts a copy of the template into a new volume on engine 0 and
// starts the server on it.
func (p *pgBench) fresh(ctx context.Context, preStop bool) error {
	if _, err := p.e[0].Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: pgVolume}); err != nil {
		return err
	}
	src, dst := p.mountpoint(ctx, 0, pgTemplate), p.mountpoint(ctx, 0, pgVolume)
	if out, err := exec.Command("cp", "-a", src+"/.", dst+"/").CombinedOutput(); err != nil {
		return fmt.Errorf("copy the template: %v: %s", err, out)
	}
	return p.startServer(ctx, pgVolume, preStop)
}

// cleanup removes the servers and volumes of the scenario on both
// engines, the template and the upgrade's image name.
func (p *pgBench) cleanup() {
	bg := context.Background()
	p.cleanupMove(bg)
	removeVolumes(bg, p.e[0], pgTemplate)
	_, _ = p.e[0].Client().ImageRemove(bg, p.upgradeImage(), client.ImageRemoveOptions{})
}

// ack is a commit the client saw acknowledged.
type ack struct {
	n  int64
	at time.Time
}

// counter inserts n = from, from+1, ... one commit at a time on the server
// of engine i (at most limit of them, if limit > 0), until one fails, and
// records the time each was acknowledged.
type counter struct {
	mu   sync.Mutex
	acks []ack
	done chan error
}

func (p *pgBench) startCounter(i int, from, limit int64) (*counter, error) {
	cond := "true"
	if limit > 0 {
		cond = fmt.Sprintf("[ $i -lt %d ]", from+limit)
	}
	script := fmt.Sprintf(`i=%d; while %s && psql -X -At -d %s -c "INSERT INTO counter VALUES ($i) RETURNING n"; do i=$((i+1)); done`, from, cond, pgDB)
	cmd := p.docker(i, "exec", "-u", "postgres", pgApp, "sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &counter{done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64)
			if err != nil {
				continue // psql's complaint when the server goes
			}
			c.mu.Lock()
			c.acks = append(c.acks, ack{n, time.Now()})
			c.mu.Unlock()
		}
		c.done <- cmd.Wait()
	}()
	return c, nil
}

func (c *counter) all() []ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ack(nil), c.acks...)
}

// load runs pgbench on engine 0 until the server stops.
func (p *pgBench) load() *exec.Cmd {
	args := []string{"exec", "-u", "postgres", pgApp, "pgbench", "-n", "-c", "4", "-j", "2", "-T", "3600"}
	if p.o.rate > 0 {
		args = append(args, "-R", strconv.Itoa(p.o.rate))
	}
	cmd := p.docker(0, append(args, pgDB)...)
	_ = cmd.Start()
	return cmd
}

func (p *pgBench) transactions(i int) (int64, error) {
	out, err := p.sql(i, "SELECT count(*) FROM pgbench_history")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(out, 10, 64)
}

// underLoad starts pgbench and the counter on engine 0 and lets them run
// for p.o.load; it returns the counter and pgbench's rate meanwhile.
func (p *pgBench) underLoad() (*counter, *exec.Cmd, float64, error) {
	before, err := p.transactions(0)
	if err != nil {
		return nil, nil, 0, err
	}
	start := time.Now()
	bench := p.load()
	cnt, err := p.startCounter(0, 1, 0)
	if err != nil {
		return nil, bench, 0, err
	}
	time.Sleep(p.o.load) // the load the move meets, not a wait for a condition
	after, err := p.transactions(0)
	if err != nil {
		return cnt, bench, 0, err
	}
	return cnt, bench, float64(after-before) / time.Since(start).Seconds(), nil
}

// move runs one mode on a fresh copy of the database.
func (p *pgBench) move(ctx context.Context, mode string, i int) (pgMove, error) {
	mv := pgMove{mode: mode}
	defer p.cleanupMove(ctx)
	repo := filepath.Join(p.work, fmt.Sprintf("pg-%s-%d", strings.ReplaceAll(mode, " ", "-"), i))
	defer os.RemoveAll(repo)
	m := &mover{lb: p.lb}
	if err := m.lifeboat(repo, "init", &struct{}{}, "init"); err != nil {
		return mv, err
	}
	if err := p.fresh(ctx, mode != "live, no pre-stop"); err != nil {
		return mv, err
	}
	dst := 1
	var rep moveReport
	var err error
	switch mode {
	case "direct again":
		if err := m.lifeboat(repo, "migrate", &rep, "migrate", "--container", pgApp, "--to", p.hosts[1], "--direct", "--stop-source"); err != nil {
			return mv, err
		}
		mv.baseline = rep.Downtime
		if err := p.e[0].Start(ctx, pgApp); err != nil {
			return mv, err
		}
		if err := p.waitReady(0, time.Minute); err != nil {
			return mv, err
		}
	case "upgrade":
		dst = 0
	}
	cnt, bench, tps, err := p.underLoad()
	defer func() {
		if bench.Process != nil {
			_ = bench.Process.Kill()
			_ = bench.Wait()
		}
	}()
	if err != nil {
		return mv, err
	}
	mv.tps = tps
	// lifeboat runs while the new server is watched from outside: the
	// downtime ends with its first commit, whenever lifeboat returns (after
	// --wait, for example).
	var moved error
	var returned time.Time
	lbDone := make(chan struct{})
	defer func() { <-lbDone }() // a failed run ends only after lifeboat did
	rep = moveReport{}
	go func() {
		defer close(lbDone)
		moved = p.lifeboatMove(m, repo, mode, &rep)
		returned = time.Now()
	}()
	select {
	case <-cnt.done: // the old server is gone: its counter ended with its last commit
	case <-lbDone:
		if moved != nil {
			return mv, moved
		}
		select {
		case <-cnt.done:
		case <-time.After(time.Minute):
			return mv, errors.New("the counter on the old server did not end within a minute of the move")
		}
	}
	src := cnt.all()
	if len(src) == 0 {
		return mv, errors.New("no commit was acknowledged before the move")
	}
	last := src[len(src)-1].at
	first, err := p.firstCommit(dst, lbDone, &moved)
	if err != nil {
		return mv, err
	}
	<-lbDone
	if moved != nil {
		return mv, moved
	}
	mv.lifeboat, mv.rounds = rep.Downtime, len(rep.Rounds)
	if len(rep.Rounds) > 0 {
		mv.lastBytes = rep.Rounds[len(rep.Rounds)-1].Written
	}
	mv.returned = returned.Sub(last).Seconds()
	mv.gap = first.Sub(last).Seconds()
	mv.acked = len(src)
	return mv, p.check(dst, src)
}

// lifeboatMove runs the move of mode and decodes its report into rep.
func (p *pgBench) lifeboatMove(m *mover, repo, mode string, rep *moveReport) error {
	to := []string{"migrate", "--container", pgApp, "--to", p.hosts[1], "--stop-source", "--start"}
	switch mode {
	case "stop and copy":
		return m.lifeboat(repo, "migrate", rep, to...)
	case "live", "live, no pre-stop":
		return m.lifeboat(repo, "migrate", rep, append(to, "--live")...)
	case "live direct":
		return m.lifeboat(repo, "migrate", rep, append(to, "--live", "--direct")...)
	case "direct again":
		return m.lifeboat(repo, "migrate", rep, append(to, "--direct")...)
	}
	var up struct {
		Downtime float64 `json:"downtime_seconds"`
	}
	err := m.lifeboat(repo, "upgrade", &up, "upgrade", pgApp, "--image", p.upgradeImage())
	rep.Downtime = up.Downtime
	return err
}

// firstCommit polls the new server on engine i (pg_isready every 0.1 s)
// until it answers, then commits a counter value there and returns when
// that was acknowledged. It gives up when the move failed (lbDone closed
// with *moved set) or after five minutes.
func (p *pgBench) firstCommit(i int, lbDone <-chan struct{}, moved *error) (time.Time, error) {
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if p.docker(i, "exec", "-u", "postgres", pgApp, "pg_isready", "-q").Run() == nil {
			break
		}
		select {
		case <-lbDone:
			if *moved != nil {
				return time.Time{}, *moved
			}
		default:
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("the new server on engine %d was not ready within five minutes", i+1)
		}
	}
	after, err := p.startCounter(i, 1_000_000_000, 5)
	if err != nil {
		return time.Time{}, err
	}
	if err := <-after.done; err != nil {
		return time.Time{}, fmt.Errorf("the counter on the new server: %w", err)
	}
	acks := after.all()
	if len(acks) == 0 {
		return time.Time{}, errors.New("no commit acknowledged on the new server")
	}
	return acks[0].at, nil
}

// check verifies the database on engine i: every acknowledged counter value
// is there, the balances add up, and pg_amcheck finds nothing wrong.
func (p *pgBench) check(i int, acks []ack) error {
	for k, a := range acks {
		if a.n != int64(k+1) {
			return fmt.Errorf("the counter acknowledged %d as its commit %d", a.n, k+1)
		}
	}
	out, err := p.sql(i, fmt.Sprintf("SELECT count(*) FROM counter WHERE n <= %d", len(acks)))
	if err != nil {
		return err
	}
	if out != strconv.Itoa(len(acks)) {
		return fmt.Errorf("%s of the %d acknowledged counter values are on the new server", out, len(acks))
	}
	out, err = p.sql(i, `SELECT (SELECT sum(abalance) FROM pgbench_accounts) = h AND (SELECT sum(bbalance) FROM pgbench_branches) = h
		AND (SELECT sum(tbalance) FROM pgbench_tellers) = h FROM (SELECT coalesce(sum(delta), 0) AS h FROM pgbench_history) s`)
	if err != nil {
		return err
	}
	if out != "t" {
		return errors.New("pgbench's balances do not add up on the new server")
	}
	if out, err := p.docker(i, "exec", "-u", "postgres", pgApp, "pg_amcheck", "--install-missing", "--heapallindexed", "-d", pgDB).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_amcheck: %v: %s", err, out)
	}
	return nil
}

// cleanupMove removes a mode's servers and volumes (the copies an upgrade
// made are named after the volume); the template stays.
func (p *pgBench) cleanupMove(ctx context.Context) {
	for _, e := range p.e {
		c := e.Client()
		for _, n := range []string{pgApp, sidecar.OldName(pgApp)} {
			_, _ = c.ContainerRemove(ctx, n, client.ContainerRemoveOptions{Force: true})
		}
		vols, err := e.Volumes(ctx, sidecar.Selection{All: true})
		if err != nil {
			continue
		}
		for _, v := range vols {
			if strings.HasPrefix(v.Name, pgVolume) {
				removeVolumes(ctx, e, v.Name)
			}
		}
	}
}

// table is the scenario's section of the report (medians per mode).
func (p *pgBench) table(all []pgMove, runs int) string {
	byMode := map[string][]pgMove{}
	for _, mv := range all {
		byMode[mv.mode] = append(byMode[mv.mode], mv)
	}
	med := medianOf[pgMove]
	rate := "` (as fast as it goes)"
	if p.o.rate > 0 {
		rate = fmt.Sprintf(" -R %d`", p.o.rate)
	}
	stopCopy := med(byMode["stop and copy"], func(m pgMove) float64 { return m.gap })
	var b strings.Builder
	fmt.Fprintf(&b, "## A busy PostgreSQL moved and upgraded: %s\n\n", map[bool]string{true: fmt.Sprintf("%d transactions a second", p.o.rate), false: "full rate"}[p.o.rate > 0])
	fmt.Fprintf(&b, "PostgreSQL 15 (`%s`), pgbench scale %d (%s on disk), `pgbench -c 4 -j 2%s and a loop inserting a counter one commit at a time, "+
		"labelled `lifeboat.stop=true` and `lifeboat.pre-stop=%s`; moved to a second Docker engine on this machine through a local repository after %v of load; medians of %d runs. "+
		"*From outside* is the longest time between two acknowledged commits (the old server's last, the new one's first), "+
		"which includes PostgreSQL's shutdown and start; *lifeboat* is the downtime it reported. Every run checked on the new server: "+
		"all acknowledged counter values present, pgbench's balances adding up, `pg_amcheck --heapallindexed` clean.\n\n",
		p.o.image, p.o.scale, mib(p.volBytes), rate, pgPreStop, p.o.load, runs)
	fmt.Fprintf(&b, "| | tps before | from outside | lifeboat | vs stop and copy | rounds | written after the stop |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, mode := range pgModes {
		ms := byMode[mode]
		if len(ms) == 0 {
			continue
		}
		gap := med(ms, func(m pgMove) float64 { return m.gap })
		rounds := "—"
		if r := med(ms, func(m pgMove) float64 { return float64(m.rounds) }); r > 0 {
			rounds = fmt.Sprintf("%.0f", r)
		}
		last := "—"
		if l := med(ms, func(m pgMove) float64 { return float64(m.lastBytes) }); l > 0 {
			last = mib(int64(l))
		}
		name := pgModeNames[mode]
		fmt.Fprintf(&b, "| %s | %.0f | %.2f s | %.2f s | %.0f%% | %s | %s |\n", name, med(ms, func(m pgMove) float64 { return m.tps }),
			gap, med(ms, func(m pgMove) float64 { return m.lifeboat }), 100*gap/stopCopy, rounds, last)
	}
	if ms := byMode["direct again"]; len(ms) > 0 {
		first := med(ms, func(m pgMove) float64 { return m.baseline })
		again := med(ms, func(m pgMove) float64 { return m.lifeboat })
		fmt.Fprintf(&b, "\nThe first `migrate --direct --stop-source` (into an empty volume) stopped it %.2f s; the second, after %v of load, %.2f s (%.0f%% of the first, lifeboat's figures).\n",
			first, p.o.load, again, 100*again/first)
	}
	return b.String()
}
