package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/lifeboat-backup/lifeboat/internal/linkshape"
	"github.com/lifeboat-backup/lifeboat/repository"
)

// The WAN scenario: the mixed data set backed up to and restored from an
// S3 server (versitygw on 127.0.0.1) behind a link-shaping proxy
// (internal/linkshape: a round-trip time, and one rate per direction that
// every connection shares), lifeboat and restic on the same link in the
// same run. Each phase shows its time, the bytes that crossed the link each
// way, the round trips, and the link's floor: the bytes sent the slower
// way divided by the rate, the time no tool can beat.

// versitygwVersion is the S3 server of the scenario, as in .ci/run.
const versitygwVersion = "v1.8.0"

const (
	s3Access = "lifeboatbench"
	s3Secret = "lifeboat-bench-secret"
	s3Bucket = "bench"
)

// wanResult is one measured run over the link.
type wanResult struct {
	seconds float64
	link    linkshape.Stats
}

// wanBench is a run of the WAN scenario.
type wanBench struct {
	*bench
	link    linkshape.Link
	proxy   *linkshape.Proxy
	results map[string]map[string][]wanResult // phase, tool
}

func runWAN(s sizes, outFile, work, lb string, runs int, link linkshape.Link) error {
	restic, err := ensureTools(work)
	if err != nil {
		return err
	}
	endpoint, stop, err := startVersitygw(work)
	if err != nil {
		return err
	}
	defer stop()
	proxy, err := linkshape.Start(strings.TrimPrefix(endpoint, "http://"), link)
	if err != nil {
		return err
	}
	defer proxy.Close()
	shaped := "http://" + proxy.Addr()
	creds := []string{"AWS_ACCESS_KEY_ID=" + s3Access, "AWS_SECRET_ACCESS_KEY=" + s3Secret, "AWS_DEFAULT_REGION=us-east-1"}
	w := &wanBench{bench: &bench{work: work, runs: runs}, link: link, proxy: proxy, results: map[string]map[string][]wanResult{}}
	w.tools = newTools(work, lb, restic,
		append([]string{"LIFEBOAT_S3_ENDPOINT=" + shaped, "LIFEBOAT_S3_PATH_STYLE=true", "LIFEBOAT_S3_REGION=us-east-1"}, creds...), creds)
	repoOf := func(t *tool, i int) string {
		if t.name == "restic" {
			return fmt.Sprintf("s3:%s/%s/restic-%d", shaped, s3Bucket, i+1)
		}
		return fmt.Sprintf("s3://%s/lifeboat-%d", s3Bucket, i+1)
	}
	src := filepath.Join(work, "data")
	fmt.Printf("generating the data set in %s\n", work)
	if err := generate(src, s); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	total := dirSize(src)
	err = w.each(func(i int, t *tool) error {
		if _, err := t.exec(repoOf(t, i), t.init...); err != nil {
			return fmt.Errorf("%s init: %w", t.name, err)
		}
		return w.measure(phaseFirst, t, repoOf(t, i), t.backup(src))
	})
	if err != nil {
		return err
	}
	if err := w.each(func(i int, t *tool) error { return w.measure(phaseUnchanged, t, repoOf(t, i), t.backup(src)) }); err != nil {
		return err
	}
	if err := change(src, s); err != nil {
		return fmt.Errorf("change: %w", err)
	}
	if err := w.each(func(i int, t *tool) error { return w.measure(phaseChanged, t, repoOf(t, i), t.backup(src)) }); err != nil {
		return err
	}
	want, err := digest(src)
	if err != nil {
		return err
	}
	err = w.each(func(i int, t *tool) error {
		dst := filepath.Join(work, fmt.Sprintf("restore-wan-%s-%d", t.name, i+1))
		if err := w.measure(phaseRestore, t, repoOf(t, i), t.restore(dst)); err != nil {
			return err
		}
		got, err := digest(t.restored(dst, src))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s restored something other than the source over the link", t.name)
		}
		return os.RemoveAll(dst)
	})
	if err != nil {
		return err
	}
	err = w.each(func(i int, t *tool) error {
		return w.killAndResume(t, repoOf(t, i)+"-killed", src, w.results[phaseFirst][t.name][i].link.Up)
	})
	if err != nil {
		return err
	}
	return wanSection.write(outFile, w.report(total))
}

// Phases of a first backup killed half way (SIGKILL once half of what a
// whole one sends has crossed the link) and run again.
const (
	phaseKilled  = "killed first backup"
	phaseResumed = "backup after the kill"
)

// killAndResume kills a first backup into a new repository once it has
// sent half of firstUp, then runs it again: what the second run sends
// beyond what was left to send is what the kill cost.
func (w *wanBench) killAndResume(t *tool, repo, src string, firstUp int64) error {
	if _, err := t.exec(repo, t.init...); err != nil {
		return fmt.Errorf("%s init: %w", t.name, err)
	}
	before := w.proxy.Stats()
	r, err := t.start(repo, t.backup(src)...)
	if err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { _, err := r.wait(); exited <- err }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for w.proxy.Stats().Up-before.Up < firstUp/2 {
		select {
		case err := <-exited:
			return fmt.Errorf("%s: the backup to kill ended first (%v)", t.name, err)
		case <-tick.C:
		}
	}
	r.kill()
	<-exited
	killed := wanResult{seconds: time.Since(r.begun).Seconds(), link: w.proxy.Stats().Sub(before)}
	if w.results[phaseKilled] == nil {
		w.results[phaseKilled] = map[string][]wanResult{}
	}
	w.results[phaseKilled][t.name] = append(w.results[phaseKilled][t.name], killed)
	fmt.Printf("%-22s %-9s %7.2f s  %8s up (killed)\n", phaseKilled, t.name, killed.seconds, mib(killed.link.Up))
	return w.measure(phaseResumed, t, repo, t.backup(src))
}

var wanSection = section{"<!-- wan: written by go run ./bench -wan -->", "<!-- end of wan -->"}

// measure runs t over the link and records its time and traffic.
func (w *wanBench) measure(phase string, t *tool, repo string, args []string) error {
	before := w.proxy.Stats()
	r, err := t.exec(repo, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", t.name, phase, err)
	}
	res := wanResult{seconds: r.seconds, link: w.proxy.Stats().Sub(before)}
	if w.results[phase] == nil {
		w.results[phase] = map[string][]wanResult{}
	}
	w.results[phase][t.name] = append(w.results[phase][t.name], res)
	fmt.Printf("%-22s %-9s %7.2f s  %8s up %8s down %6d round trips  floor %6.2f s\n", phase, t.name, res.seconds,
		mib(res.link.Up), mib(res.link.Down), res.link.RoundTrips, w.floor(res.link).Seconds())
	return nil
}

// floor is the least time the link allows for what crossed it.
func (w *wanBench) floor(s linkshape.Stats) time.Duration {
	if w.link.Rate == 0 {
		return 0
	}
	return time.Duration(float64(max(s.Up, s.Down)) / float64(w.link.Rate) * float64(time.Second))
}

// report is the scenario's markdown section: medians by time.
func (w *wanBench) report(total int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Across a WAN link\n\n")
	fmt.Fprintf(&b, "The mixed data set (%s) to versitygw %s through a link-shaping proxy on this machine: %s round trip, %.0f Mbit/s each way, shared by all connections (internal/linkshape). ",
		mib(total), versitygwVersion, w.link.RTT, float64(w.link.Rate)*8/1e6)
	fmt.Fprintf(&b, "Medians of %d runs. Up and down are the bytes that crossed the link; the floor is the slower direction's bytes at the link's rate; use is the floor over the time.\n\n", w.runs)
	var names []string
	for _, t := range w.tools {
		names = append(names, fmt.Sprintf("%s (%s)", t.name, t.version))
	}
	fmt.Fprintf(&b, "Tools: %s.\n\n", strings.Join(names, ", "))
	b.WriteString("| phase | tool | time | up | down | round trips | floor | link use | vs restic |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, phase := range mixedPhases {
		var resticSecs float64
		if rs := w.results[phase]["restic"]; len(rs) > 0 {
			resticSecs = wanMedian(rs).seconds
		}
		for _, t := range w.tools {
			rs := w.results[phase][t.name]
			if len(rs) == 0 {
				continue
			}
			m := wanMedian(rs)
			floor := w.floor(m.link).Seconds()
			use := "—"
			if floor > 0 && m.seconds > 0 {
				use = fmt.Sprintf("%.0f%%", 100*floor/m.seconds)
			}
			vs := "—"
			if resticSecs > 0 && t.name != "restic" {
				vs = fmt.Sprintf("%.2f×", m.seconds/resticSecs)
			}
			fmt.Fprintf(&b, "| %s | %s | %.1f s | %s | %s | %d | %.1f s | %s | %s |\n", phase, t.name, m.seconds,
				mib(m.link.Up), mib(m.link.Down), m.link.RoundTrips, floor, use, vs)
		}
	}
	if len(w.results[phaseKilled]) > 0 {
		b.WriteString(w.killReport())
	}
	return b.String()
}

// killReport is the table of the killed first backups: what was sent
// twice is what the killed run and the one after it sent together beyond
// what one whole first backup sends.
func (w *wanBench) killReport() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nA first backup killed (SIGKILL) once it had sent half of what a whole one sends, then run again: ")
	fmt.Fprintf(&b, "sent twice is what the two runs sent beyond one whole first backup (medians). lifeboat's bound is the packs in flight when it died: its uploads to a remote store (4 by default) times its pack size (%d MiB).\n\n",
		repository.DefaultPackSize>>20)
	b.WriteString("| tool | killed after | sent before the kill | backup after the kill | sent | sent twice |\n|---|---|---|---|---|---|\n")
	for _, t := range w.tools {
		killed, resumed, first := w.results[phaseKilled][t.name], w.results[phaseResumed][t.name], w.results[phaseFirst][t.name]
		if len(killed) == 0 || len(resumed) != len(killed) || len(first) < len(killed) {
			continue
		}
		var twice []int64
		for i := range killed {
			twice = append(twice, killed[i].link.Up+resumed[i].link.Up-first[i].link.Up)
		}
		slices.Sort(twice)
		k, r := wanMedian(killed), wanMedian(resumed)
		fmt.Fprintf(&b, "| %s | %.1f s | %s | %.1f s | %s | %s |\n", t.name, k.seconds, mib(k.link.Up), r.seconds, mib(r.link.Up), mib(twice[len(twice)/2]))
	}
	return b.String()
}

// wanMedian is the run with the median time.
func wanMedian(rs []wanResult) wanResult {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b wanResult) int { return cmp.Compare(a.seconds, b.seconds) })
	return sorted[len(sorted)/2]
}

// startVersitygw runs versitygw (from PATH or GOPATH/bin, else built at
// versitygwVersion into work) on 127.0.0.1 with a posix backend in work,
// creates the bucket, and returns its endpoint and how to stop it.
func startVersitygw(work string) (string, func(), error) {
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			gobin := filepath.Join(work, "gobin")
			fmt.Printf("building versitygw %s\n", versitygwVersion)
			install := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+versitygwVersion)
			install.Env = append(os.Environ(), "GOBIN="+gobin)
			if out, err := install.CombinedOutput(); err != nil {
				return "", nil, fmt.Errorf("build versitygw: %v\n%s", err, out)
			}
			bin = filepath.Join(gobin, "versitygw")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	dir := filepath.Join(work, "s3")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", addr, "--access", s3Access, "--secret", s3Secret, "--health", "/health", "posix", dir)
	logs, err := os.Create(filepath.Join(work, "versitygw.log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		logs.Close()
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logs.Close() }
	endpoint := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("versitygw did not come up at %s (see %s)", endpoint, logs.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3Access, s3Secret, "")})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(s3Bucket)}); err != nil {
		stop()
		return "", nil, fmt.Errorf("create the bucket: %w", err)
	}
	return endpoint, stop, nil
}
