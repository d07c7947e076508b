package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/lifeboat-backup/lifeboat/targets/local"
	"github.com/moby/moby/client"
)

// The web scenario: the daemon's page over a repository of many
// snapshots and an engine of many volumes (the 10,000 and 200),
// requested again and again as a browser left open would. The snapshots
// are written straight into the repository (copies of one real backup's
// manifest, spread over the volumes and over time), the volumes created
// on the engine and removed at the end.

var webSection = section{"<!-- web: written by go run ./bench -web -->", "<!-- end of web -->"}

// webOptions size the scenario.
type webOptions struct {
	snapshots, volumes, requests int
}

func runWeb(outFile, work, lb string, o webOptions) error {
	ctx := context.Background()
	e, err := sidecar.Connect(ctx, "")
	if err != nil {
		return err
	}
	defer e.Close()
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	tag := fmt.Sprintf("lbbench-web-%d", os.Getpid())
	var vols []string
	defer func() {
		for _, v := range vols {
			_, _ = e.Client().VolumeRemove(context.Background(), v, client.VolumeRemoveOptions{Force: true})
		}
	}()
	fmt.Printf("creating %d volumes\n", o.volumes)
	for i := range o.volumes {
		name := fmt.Sprintf("%s-%03d", tag, i)
		if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: map[string]string{tag: "1"}}); err != nil {
			return err
		}
		vols = append(vols, name)
	}

	repoDir := filepath.Join(work, "repo-web")
	env := append(os.Environ(), "LIFEBOAT_PASSWORD="+password, "LIFEBOAT_REPOSITORY="+repoDir)
	src := filepath.Join(work, "web-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{{"init", "-q"}, {"backup", "-q", "--path", src}} {
		cmd := exec.Command(lb, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("lifeboat %s: %v\n%s", args[0], err, out)
		}
	}
	fmt.Printf("writing %d snapshots\n", o.snapshots)
	if err := copySnapshots(ctx, repoDir, host, vols, o.snapshots); err != nil {
		return err
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	cfg := filepath.Join(work, "web.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("daemon:\n  listen: 127.0.0.1:%d\n  jobs:\n    - name: all-of-them\n      schedule: \"@daily\"\n      labels: [%q]\n", port, tag+"=1")), 0o600); err != nil {
		return err
	}
	daemon := exec.Command(lb, "daemon", "--config", cfg)
	daemon.Env = env
	daemon.Stdout, daemon.Stderr = io.Discard, io.Discard
	if err := daemon.Start(); err != nil {
		return err
	}
	defer func() { _ = daemon.Process.Signal(syscall.SIGTERM); _ = daemon.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(base+"/healthz", time.Minute); err != nil {
		return err
	}

	type measured struct {
		path        string
		first       time.Duration
		median, p95 time.Duration
		bytes       int
	}
	var rows []measured
	for _, path := range []string{"/api/overview", "/", "/snapshots", "/static/style.css", "/static/app.js"} {
		m := measured{path: path}
		var times []time.Duration
		for i := range o.requests + 1 {
			start := time.Now()
			resp, err := http.Get(base + path)
			if err != nil {
				return err
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if err != nil || resp.StatusCode != 200 {
				return fmt.Errorf("GET %s: %s %v", path, resp.Status, err)
			}
			if path == "/api/overview" && !strings.Contains(string(b), `"protected"`) {
				return fmt.Errorf("the overview judged no volume protected:\n%.2000s", b)
			}
			if i == 0 {
				m.first = took // loads every snapshot once
				continue
			}
			times = append(times, took)
			m.bytes = len(b)
		}
		slices.Sort(times)
		m.median, m.p95 = times[len(times)/2], times[len(times)*95/100]
		rows = append(rows, m)
		fmt.Printf("%-18s first %7.1f ms  median %7.1f ms  p95 %7.1f ms  %d bytes\n", path, ms(m.first), ms(m.median), ms(m.p95), m.bytes)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## The daemon's page\n\n")
	fmt.Fprintf(&b, "`lifeboat daemon` with one job over %d volumes of the engine and a local repository of %d snapshots of them, each page requested %d times after a first request. Page weight is the page alone; the overview also loads the style sheet and the script below.\n\n", o.volumes, o.snapshots, o.requests)
	b.WriteString("| request | first | median | 95th percentile | bytes |\n|---|---|---|---|---|\n")
	total := 0
	for _, m := range rows {
		fmt.Fprintf(&b, "| GET %s | %.0f ms | %.0f ms | %.0f ms | %s |\n", m.path, ms(m.first), ms(m.median), ms(m.p95), mib(int64(m.bytes)))
		if m.path != "/api/overview" && m.path != "/snapshots" {
			total += m.bytes
		}
	}
	fmt.Fprintf(&b, "\nThe overview with its style sheet and script weighs %.0f KiB (target ≤ 300 KiB); it is served in a median of %.0f ms (target ≤ 300 ms).\n",
		float64(total)/1024, ms(rows[1].median))
	return webSection.write(outFile, b.String())
}

// copySnapshots writes n snapshots spread over vols (and over the last n
// hours), copies of the repository's one snapshot.
func copySnapshots(ctx context.Context, dir, host string, vols []string, n int) error {
	t, err := local.New(dir)
	if err != nil {
		return err
	}
	repo, err := repository.Open(ctx, t, []byte(password), repository.Options{NoLock: true})
	if err != nil {
		return err
	}
	defer repo.Close()
	all, err := repo.Snapshots(ctx)
	if err != nil || len(all) != 1 {
		return fmt.Errorf("the template snapshot: %d found (%v)", len(all), err)
	}
	now := time.Now()
	for i := range n {
		sn := *all[0]
		sn.Host, sn.Time = host, now.Add(-time.Duration(n-i)*time.Minute)
		sn.Volume = &repository.VolumeInfo{Name: vols[i%len(vols)], Driver: "local"}
		if _, err := repo.SaveSnapshot(ctx, &sn); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers, for at most within.
func waitHTTP(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s: %w", within, url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
