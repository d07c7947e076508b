package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/dockerd"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// The moves scenario: what moving or upgrading a volume costs the
// application that writes into it. The volume holds the mixed data set's
// large file and small files; an application container rewrites random
// 8 KiB pages of the large file at a steady rate (a database under load).
// The destination is a second Docker engine on this machine. Measured:
//
//   - stop and copy: migrate --stop-source (downtime from the stop to the
//     data being complete on the destination);
//   - migrate --live --stop-source: the same downtime, the rounds;
//   - upgrade, which copies while the container runs: downtime from the
//     stop to the new container's start;
//   - a second migration after 1% of the large file's pages changed (the
//     application stopped): the bytes sent, against the volume's size.

const (
	movesVolume = "lifeboat-bench-moves"
	movesApp    = "lifeboat-bench-app"
	movesImage  = "lifeboat-bench-app"
)

// pageWriterScript rewrites a random 8 KiB page of /data/large.bin about
// fifty times a second until it is stopped.
const pageWriterScript = `trap "exit 0" TERM
pages=$(( $(stat -c %s /data/large.bin) / 8192 ))
i=1
while :; do
	i=$(( (i*7919+13) % pages ))
	dd if=/dev/urandom of=/data/large.bin bs=8192 count=1 seek=$i conv=notrunc 2>/dev/null
	sleep 0.02 & wait $!
done`

// moveReport is what lifeboat printed with --json about a move.
type moveReport struct {
	Downtime float64 `json:"downtime_seconds"`
	Rounds   []struct {
		Sent    int64   `json:"bytes_sent"`
		Written int64   `json:"bytes_written"`
		Files   int64   `json:"files_written"`
		Seconds float64 `json:"seconds"`
	} `json:"rounds"`
	Volumes []struct {
		Sent     int64 `json:"bytes_sent"`
		Returned int64 `json:"bytes_returned"`
	} `json:"volumes"`
}

// moveRun is one run's measurements.
type moveRun struct {
	stopCopy, live, upgrade float64 // downtime, seconds
	liveRounds              int
	lastDelta               int64 // bytes written by the live migration's last round
	secondSent              int64 // bytes sent by the second migration
	// migrate --direct: the extra disk the first one used at its peak
	// (beyond the volume on both sides), and the bytes the second one,
	// after 1% of the pages changed, sent and got back.
	directExtra, directSent, directReturned int64
}

// moves runs the scenario runs times and returns its section of the report.
func moves(work, lb string, s sizes, runs int) (string, error) {
	ctx := context.Background()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", fmt.Errorf("the application image needs busybox-static: %w", err)
	}
	en, err := startEngines(ctx, work, "moves")
	if err != nil {
		return "", err
	}
	defer en.close()
	e1, e2 := en.src, en.dst

	files := []sidecar.ImageFile{{Path: "bin/", Mode: 0o755}, {Path: "bin/busybox", Mode: 0o755, Data: bb}, {Path: "tmp/", Mode: 0o1777}}
	for _, tool := range []string{"sh", "sleep", "dd", "stat"} {
		files = append(files, sidecar.ImageFile{Path: "bin/" + tool, Link: "busybox"})
	}
	for _, tag := range []string{"1", "2"} {
		if err := e1.LoadImage(ctx, movesImage+":"+tag, files, []string{"/bin/sh", "-c", pageWriterScript}, nil); err != nil {
			return "", err
		}
	}
	c := e1.Client()
	defer func() {
		bg := context.Background()
		for _, n := range []string{movesApp, sidecar.OldName(movesApp)} {
			_, _ = c.ContainerRemove(bg, n, client.ContainerRemoveOptions{Force: true})
		}
		removeVolumes(bg, e1, movesVolume)
		for _, tag := range []string{"1", "2"} {
			_, _ = c.ImageRemove(bg, movesImage+":"+tag, client.ImageRemoveOptions{Force: true})
		}
	}()
	if _, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: movesVolume}); err != nil {
		return "", err
	}
	vols, err := e1.Volumes(ctx, sidecar.Selection{Names: []string{movesVolume}})
	if err != nil {
		return "", err
	}
	mountpoint := vols[0].Mountpoint
	fmt.Printf("moves: generating the volume (%s large file, %d small files)\n", mib(s.LargeBytes), s.SmallFiles)
	if err := generate(mountpoint, sizes{LargeBytes: s.LargeBytes, SmallFiles: s.SmallFiles}); err != nil {
		return "", err
	}
	volumeBytes := dirSize(mountpoint)
	if _, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Name: movesApp,
		Config:     &container.Config{Image: movesImage + ":1"},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: movesVolume, Target: "/data"}}, NetworkMode: "none"}}); err != nil {
		return "", err
	}
	m := &mover{work: work, lb: lb, dst: en.dstHost, e1: e1, e2: e2}
	var rs []moveRun
	for i := range runs {
		r, err := m.run(ctx, i, mountpoint)
		if err != nil {
			return "", err
		}
		fmt.Printf("moves run %d: %+v\n", i+1, r)
		rs = append(rs, r)
	}
	return movesTable(rs, volumeBytes, s), nil
}

// engines are this machine's Docker engine and a second one that a
// scenario started; close stops the second and removes the sidecar images
// the scenario's lifeboat built on the first.
type engines struct {
	src, dst *sidecar.Engine
	dstHost  string
	close    func()
}

func startEngines(ctx context.Context, work, scenario string) (*engines, error) {
	e1, err := sidecar.Connect(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("the Docker engine: %w", err)
	}
	fmt.Printf("%s: starting a second Docker engine\n", scenario)
	d2, err := dockerd.Start(ctx, work)
	if err != nil {
		e1.Close()
		return nil, err
	}
	e2, err := sidecar.Connect(ctx, d2.Host)
	if err != nil {
		d2.Stop()
		e1.Close()
		return nil, err
	}
	before := sidecarImages(ctx, e1)
	return &engines{src: e1, dst: e2, dstHost: d2.Host, close: func() {
		removeNewSidecars(context.Background(), e1, before)
		e2.Close()
		d2.Stop()
		e1.Close()
	}}, nil
}

// mover drives lifeboat through one run of the scenario.
type mover struct {
	work, lb, dst string
	e1, e2        *sidecar.Engine
	env           []string // more of lifeboat's environment
}

// lifeboat runs lifeboat with --json on the repository repo and decodes
// its last message of type typ into v.
func (m *mover) lifeboat(repo, typ string, v any, args ...string) error {
	cmd := exec.Command(m.lb, append(args, "--json")...)
	cmd.Env = append(append(os.Environ(), "LIFEBOAT_REPOSITORY="+repo, "LIFEBOAT_PASSWORD="+password), m.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("lifeboat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(lines[i]), &head) == nil && head.Type == typ {
			return json.Unmarshal([]byte(lines[i]), v)
		}
	}
	return fmt.Errorf("lifeboat %s printed no %s message", strings.Join(args, " "), typ)
}

// startApp starts the application and lets it write for a few seconds.
func (m *mover) startApp(ctx context.Context) error {
	if err := m.e1.Start(ctx, movesApp); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // a benchmark's warm-up, not a test's wait
	return nil
}

func (m *mover) run(ctx context.Context, i int, mountpoint string) (moveRun, error) {
	var r moveRun
	repo := func(name string) string { return filepath.Join(m.work, fmt.Sprintf("moves-%s-%d", name, i)) }
	for _, name := range []string{"stopcopy", "live"} {
		cmd := exec.Command(m.lb, "init", "-q")
		cmd.Env = append(os.Environ(), "LIFEBOAT_REPOSITORY="+repo(name), "LIFEBOAT_PASSWORD="+password)
		if out, err := cmd.CombinedOutput(); err != nil {
			return r, fmt.Errorf("lifeboat init: %v\n%s", err, out)
		}
	}
	defer func() {
		for _, name := range []string{"stopcopy", "live"} {
			os.RemoveAll(repo(name))
		}
	}()

	// Stop and copy.
	if err := m.startApp(ctx); err != nil {
		return r, err
	}
	waitIdle(30 * time.Second)
	var rep moveReport
	if err := m.lifeboat(repo("stopcopy"), "migrate", &rep, "migrate", movesVolume, "--to", m.dst, "--stop-source"); err != nil {
		return r, err
	}
	r.stopCopy = rep.Downtime
	removeVolumes(ctx, m.e2, movesVolume)

	// Live.
	if err := m.startApp(ctx); err != nil {
		return r, err
	}
	waitIdle(30 * time.Second)
	rep = moveReport{}
	if err := m.lifeboat(repo("live"), "migrate", &rep, "migrate", movesVolume, "--to", m.dst, "--live", "--stop-source"); err != nil {
		return r, err
	}
	if len(rep.Rounds) == 0 {
		return r, errors.New("migrate --live reported no rounds")
	}
	r.live, r.liveRounds, r.lastDelta = rep.Downtime, len(rep.Rounds), rep.Rounds[len(rep.Rounds)-1].Written

	// Again after 1% of the pages changed, the application stopped.
	if err := changePages(filepath.Join(mountpoint, "large.bin"), 500+uint64(i)); err != nil {
		return r, err
	}
	rep = moveReport{}
	if err := m.lifeboat(repo("live"), "migrate", &rep, "migrate", movesVolume, "--to", m.dst, "--live", "--force"); err != nil {
		return r, err
	}
	for _, rd := range rep.Rounds {
		r.secondSent += rd.Sent
	}
	removeVolumes(ctx, m.e2, movesVolume)

	// Direct, the application stopped: into an empty volume, watching the
	// disk; again after 1% of the pages changed.
	used, stopWatch := watchDiskUse(mountpoint)
	if err := m.lifeboat(repo("live"), "migrate", &rep, "migrate", movesVolume, "--to", m.dst, "--direct"); err != nil {
		return r, err
	}
	r.directExtra = max(0, stopWatch()-used-volumeBytesOf(mountpoint)) // the destination's copy is the one expected use
	if err := changePages(filepath.Join(mountpoint, "large.bin"), 700+uint64(i)); err != nil {
		return r, err
	}
	rep = moveReport{}
	if err := m.lifeboat(repo("live"), "migrate", &rep, "migrate", movesVolume, "--to", m.dst, "--direct"); err != nil { // its own copy: updated
		return r, err
	}
	for _, v := range rep.Volumes {
		r.directSent += v.Sent
		r.directReturned += v.Returned
	}
	removeVolumes(ctx, m.e2, movesVolume)

	// Upgrade, then back to the first image.
	if err := m.startApp(ctx); err != nil {
		return r, err
	}
	waitIdle(30 * time.Second)
	var up struct {
		Downtime float64           `json:"downtime_seconds"`
		Volumes  map[string]string `json:"volumes"`
	}
	if err := m.lifeboat(repo("live"), "upgrade", &up, "upgrade", movesApp, "--image", movesImage+":2", "--wait", "1s"); err != nil {
		return r, err
	}
	r.upgrade = up.Downtime
	var rb struct {
		Kept []string `json:"kept_volumes"`
	}
	if err := m.lifeboat(repo("live"), "rollback", &rb, "rollback", movesApp); err != nil {
		return r, err
	}
	if err := m.e1.Stop(ctx, movesApp, func(messages.Event) {}); err != nil {
		return r, err
	}
	removeVolumes(ctx, m.e1, rb.Kept...)
	return r, nil
}

// watchDiskUse samples the space used on the file system of path every
// 50 ms; the returned function stops it and returns the peak. The first
// result is the use when it started.
func watchDiskUse(path string) (int64, func() int64) {
	use := func() int64 {
		var st syscall.Statfs_t
		if syscall.Statfs(path, &st) != nil {
			return 0
		}
		return int64(st.Blocks-st.Bfree) * st.Bsize
	}
	start := use()
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		peak := start
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- max(peak, use())
				return
			case <-t.C:
				peak = max(peak, use())
			}
		}
	}()
	return start, func() int64 { close(stop); return <-done }
}

// volumeBytesOf is the space the files under dir take on disk.
func volumeBytesOf(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

// removeVolumes removes volumes from an engine, ignoring errors (cleanup).
func removeVolumes(ctx context.Context, e *sidecar.Engine, names ...string) {
	for _, n := range names {
		_, _ = e.Client().VolumeRemove(ctx, n, client.VolumeRemoveOptions{Force: true})
	}
}

// sidecarImages lists the lifeboat sidecar images an engine has.
func sidecarImages(ctx context.Context, e *sidecar.Engine) map[string]bool {
	out := map[string]bool{}
	res, err := e.Client().ImageList(ctx, client.ImageListOptions{Filters: client.Filters{}.Add("reference", "lifeboat-sidecar")})
	if err != nil {
		return out
	}
	for _, im := range res.Items {
		out[im.ID] = true
	}
	return out
}

// removeNewSidecars removes the sidecar images the scenario's lifeboat built.
func removeNewSidecars(ctx context.Context, e *sidecar.Engine, before map[string]bool) {
	for id := range sidecarImages(ctx, e) {
		if !before[id] {
			_, _ = e.Client().ImageRemove(ctx, id, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	}
}

// movesTable is the scenario's section of the report (medians).
func movesTable(rs []moveRun, volumeBytes int64, s sizes) string {
	med := func(get func(moveRun) float64) float64 { return medianOf(rs, get) }
	stopCopy := med(func(r moveRun) float64 { return r.stopCopy })
	live := med(func(r moveRun) float64 { return r.live })
	upgrade := med(func(r moveRun) float64 { return r.upgrade })
	rounds := med(func(r moveRun) float64 { return float64(r.liveRounds) })
	lastDelta := med(func(r moveRun) float64 { return float64(r.lastDelta) })
	second := med(func(r moveRun) float64 { return float64(r.secondSent) })
	directExtra := med(func(r moveRun) float64 { return float64(r.directExtra) })
	directSent := med(func(r moveRun) float64 { return float64(r.directSent) })
	directReturned := med(func(r moveRun) float64 { return float64(r.directReturned) })
	var b strings.Builder
	fmt.Fprintf(&b, "## Moves and upgrades of a volume in use\n\n")
	fmt.Fprintf(&b, "A volume of %s (a %s file whose 8 KiB pages an application container rewrites about fifty times a second, and %d small files), "+
		"moved to a second Docker engine on this machine through a local repository; medians of %d runs. "+
		"Downtime runs from the application's stop to the data being complete on the destination (for upgrade: to the new container's start).\n\n",
		mib(volumeBytes), mib(s.LargeBytes), s.SmallFiles, len(rs))
	fmt.Fprintf(&b, "| | downtime | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| stop and copy (`migrate --stop-source`) | %.2f s | |\n", stopCopy)
	fmt.Fprintf(&b, "| `migrate --live --stop-source` (%.0f rounds, last one %s) | %.2f s (%.1f%% of stop and copy) | ≤ 10%% and < 3 s: %s |\n",
		rounds, mib(int64(lastDelta)), live, 100*live/stopCopy, verdict(live <= stopCopy/10 && live < 3))
	fmt.Fprintf(&b, "| `upgrade` (copies while it runs) | %.2f s (%.1f%% of stop and copy) | |\n", upgrade, 100*upgrade/stopCopy)
	fmt.Fprintf(&b, "\nA second migration after 1%% of the large file's pages changed (application stopped) sent %s, %.1f%% of the volume "+
		"(through the repository).\n", mib(int64(second)), 100*second/float64(volumeBytes))
	fmt.Fprintf(&b, "\n`migrate --direct` (streamed between the sidecars): the first, into an empty volume, used %s of disk beyond the volume's copy at its peak "+
		"(target < 256 MiB: %s); a second after 1%% of the large file's pages changed sent %s, %.1f%% of the volume (target ≤ 3%%: %s), and got %s of signatures back.\n",
		mib(int64(directExtra)), verdict(directExtra < 256<<20), mib(int64(directSent)), 100*directSent/float64(volumeBytes),
		verdict(directSent <= 0.03*float64(volumeBytes)), mib(int64(directReturned)))
	return b.String()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// medianOf is the median of what get reads off each of rs (the upper one
// of an even count).
func medianOf[T any](rs []T, get func(T) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}
