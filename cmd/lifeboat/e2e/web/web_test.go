package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/moby/moby/client"
)

// chromium is Debian's browser; .ci/run installs it. Without it the
// browser test fails under CI=true and is skipped elsewhere.
const chromium = "/usr/bin/chromium"

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// output is a process's output, read while the process writes it.
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// daemon starts `lifeboat daemon` on cfg and waits until base/healthz
// answers; it is stopped with SIGTERM at the end of the test.
func daemon(t *testing.T, c *clitest.CLI, cfg, base string) *output {
	t.Helper()
	cmd := c.Cmd("daemon", "--config", cfg)
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("daemon after SIGTERM: %v\n%s", err, out.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(25 * time.Millisecond) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 60s for the daemon to answer on %s/healthz: %v\n%s", base, err, out.String())
		}
	}
}

func volume(t *testing.T, e *sidecar.Engine, name string, labels map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.Client().VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{Force: true})
	})
}

// screenshot captures the browser's page as a PNG, checks that it is one,
// and writes it as name.png into the directory LIFEBOAT_SCREENSHOTS names
// (the README's pictures: docs/screenshots), if it is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() < 300 || img.Bounds().Dy() < 200 {
		t.Fatalf("screenshot of %s is no page: %v", name, err)
	}
	if dir := os.Getenv("LIFEBOAT_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// overviewState is a volume's state as GET /api/overview says.
func overviewState(t *testing.T, base, vol string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/overview")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var o struct {
		Volumes []struct{ Name, State string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		t.Fatal(err)
	}
	for _, v := range o.Volumes {
		if v.Name == vol {
			return v.State
		}
	}
	t.Fatalf("the overview has no volume %s", vol)
	return ""
}

// In a real browser: the overview shows a volume its job has not backed
// up yet as late and one no job selects as not covered; "Run now" runs
// the job, the page follows it and then shows the volume protected; the
// JSON endpoint agrees. From the volume's row, the snapshot's file
// downloads equal to the source, and a restore into the fresh volume the
// page proposes, followed on the tasks page, fills it with the file.
func TestPageInABrowser(t *testing.T) {
	treetest.RequireRoot(t)
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is missing (%v): .ci/run installs Debian's chromium", err)
		}
		t.Skipf("no %s: install Debian's chromium", chromium)
	}
	e := lb.Engine(t)
	id := fmt.Sprintf("%d", os.Getpid())
	covered, other := "lbweb-data-"+id, "lbweb-other-"+id
	volume(t, e, covered, map[string]string{"lbweb": id})
	volume(t, e, other, nil)
	if err := os.WriteFile(clitest.Mountpoint(t, e, covered)+"/orders.csv", []byte("1,2,3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	app := "lbweb-app-" + id // its label makes the copy consistent: stopped for it
	clitest.StartApp(t, e, clitest.AppImage(t, e), app, covered, map[string]string{"lifeboat.stop": "true"})
	c := lb.CLI(t)
	c.OK("init")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(t.TempDir(), "lifeboat.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`daemon:
  listen: "127.0.0.1:%d"
  jobs:
    - name: labelled
      schedule: "@daily"
      labels: ["lbweb=%s"]
    - name: weekly
      check: "@weekly"
      check-read-data: 100%%
`, port, id)), 0o600); err != nil {
		t.Fatal(err)
	}
	log := daemon(t, c, cfg, base)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless,
		chromedp.WindowSize(1200, 800))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	browser, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(browser, chromedp.Navigate(base+"/")); err != nil { // starts the browser: no timeout on this one
		t.Fatalf("opening the page: %v\n%s", err, log.String())
	}
	ctx, cancel := context.WithTimeout(browser, 3*time.Minute)
	defer cancel()
	row := func(vol string) string { return `tr[id="volume-` + vol + `"]` }
	state := func(vol string) string {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(row(vol), "data-state"))
		if err != nil || !a.Exists {
			t.Fatalf("the row of %s: %v (attribute there: %v)\n%s", vol, err, a.Exists, log.String())
		}
		return a.Value
	}
	detail, err := chromedp.Run(ctx, chromedp.Text(row(covered)+" .detail"))
	if err != nil {
		t.Fatal(err)
	}
	if before, otherState := state(covered), state(other); before != "late" || !strings.Contains(detail, "no snapshot yet") || otherState != "not covered" {
		t.Fatalf("before the run: %s is %q (%s), %s is %q", covered, before, detail, other, otherState)
	}
	users, err := chromedp.Run(ctx, chromedp.Text(row(covered)+` td[data-label="Used by"]`))
	if err != nil || users != app+": stopped for the copy" {
		t.Fatalf("the users of %s: %q (%v)", covered, users, err)
	}

	// Run now, in the browser; the page follows the run and reloads.
	if err := chromedp.Do(ctx,
		chromedp.Click(`tr[id="job-labelled"] button`, chromedp.NodeVisible),
		chromedp.WaitVisible(row(covered)+`[data-state="protected"]`),
	); err != nil {
		t.Fatalf("running the job from the page: %v\n%s", err, log.String())
	}
	label, err := chromedp.Run(ctx, chromedp.Text(row(covered)+" .state"))
	if err != nil || label != "protected" || state(covered) != "protected" {
		t.Fatalf("after the run: the row says %q (%v)", label, err)
	}
	screenshot(t, ctx, "overview")
	if got := overviewState(t, base, covered); got != "protected" {
		t.Fatalf("the JSON overview says %q", got)
	}
	// The job's page keeps the run with what it printed.
	resp, err := http.Get(base + "/api/jobs/labelled")
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		Runs []struct {
			Success bool
			Log     string
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&job)
	resp.Body.Close()
	if err != nil || len(job.Runs) != 1 || !job.Runs[0].Success || !strings.Contains(job.Runs[0].Log, "backing up volume "+covered) {
		t.Fatalf("the job's run: %v %+v", err, job.Runs)
	}
	if out := c.OK("ls", "latest", "--volume", covered); !strings.Contains(out, "orders.csv") {
		t.Fatalf("the job's snapshot:\n%s", out)
	}

	// Browse the snapshot from the volume's row, download its file.
	if err := chromedp.Do(ctx,
		chromedp.Click(row(covered)+` a[href$="/browse"]`, chromedp.NodeVisible),
		chromedp.WaitVisible(`table.entries a[download]`),
	); err != nil {
		t.Fatalf("browsing the snapshot: %v", err)
	}
	screenshot(t, ctx, "browse")
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(`table.entries a[download]`, "href"))
	if err != nil || !href.Exists {
		t.Fatalf("the file's link: %v", err)
	}
	resp, err = http.Get(base + href.Value)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "1,2,3\n" {
		t.Fatalf("download %s: %s %q", href.Value, resp.Status, got)
	}

	// Restore it into the fresh volume the page proposes, and follow the task.
	restored, err := chromedp.Run(ctx, chromedp.Value(`form.restore input[name="volume"]`))
	if err != nil || !strings.HasPrefix(restored, covered+"-restored-") {
		t.Fatalf("the proposed volume: %q (%v)", restored, err)
	}
	t.Cleanup(func() {
		_, _ = e.Client().VolumeRemove(context.Background(), restored, client.VolumeRemoveOptions{Force: true})
	})
	if err := chromedp.Do(ctx,
		chromedp.Click(`form.restore button`, chromedp.NodeVisible),
		chromedp.WaitVisible(`tr[data-done="true"]`),
	); err != nil {
		t.Fatalf("restoring from the page: %v\n%s", err, log.String())
	}
	screenshot(t, ctx, "tasks")
	failed, err := chromedp.Run(ctx, chromedp.AttributeValue(`tr[data-done="true"]`, "data-failed"))
	if err != nil || failed.Value != "false" {
		text, _ := chromedp.Run(ctx, chromedp.Text(`tr[data-done="true"]`))
		t.Fatalf("the restore task failed: %s\n%s", text, log.String())
	}
	b, err := os.ReadFile(clitest.Mountpoint(t, e, restored) + "/orders.csv")
	if err != nil || string(b) != "1,2,3\n" {
		t.Fatalf("the restored volume's file: %q %v", b, err)
	}

	// The check job, run from the overview, reads every pack; its result
	// is on the repository page.
	c.OK("backup", "--path", clitest.WriteTree(t, map[string][]byte{"report.txt": []byte("quarterly\n")}))
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.Click(`tr[id="job-weekly"] button`, chromedp.NodeVisible),
		chromedp.WaitVisible(`tr[id="job-weekly"] .result .state:not(.running)`),
	); err != nil {
		t.Fatalf("running the check job from the page: %v\n%s", err, log.String())
	}
	if result, err := chromedp.Run(ctx, chromedp.Text(`tr[id="job-weekly"] .result`)); err != nil ||
		!strings.HasPrefix(result, "succeeded") || !strings.Contains(result, "2 snapshots checked") || !strings.Contains(result, "; no errors found") {
		t.Fatalf("the check job's result: %q (%v)\n%s", result, err, log.String())
	}

	// The other pages open from the navigation; the second snapshot makes
	// the repository's growth a line.
	for _, page := range []struct{ link, ready, name string }{
		{"Snapshots", "table.snapshots tbody tr[id]", "snapshots"},
		{"Repository", "td#dedup", "repository"},
	} {
		if err := chromedp.Do(ctx, chromedp.Click(`nav a[href="/`+page.name+`"]`, chromedp.NodeVisible), chromedp.WaitVisible(page.ready)); err != nil {
			t.Fatalf("the %s page: %v", page.link, err)
		}
		screenshot(t, ctx, page.name)
	}
	if check, err := chromedp.Run(ctx, chromedp.Text(`p[id="check-weekly"]`)); err != nil || !strings.Contains(check, "succeeded") || !strings.Contains(check, "packs read; no errors found") {
		t.Fatalf("the repository page's check: %q (%v)", check, err)
	}
}

// From outside: on an address other than loopback the page needs a
// password (else only /healthz and /metrics are served, with a warning);
// with one, a request without it is refused; a read-only page refuses
// actions; every response carries the security headers.
func TestPageSafeByDefault(t *testing.T) {
	c := lb.CLI(t)
	c.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"f": []byte("x")})
	write := func(extra string, port int) string {
		cfg := filepath.Join(t.TempDir(), "lifeboat.yml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`daemon:
  listen: "0.0.0.0:%d"
%s  jobs:
    - name: files
      schedule: "@daily"
      paths: [%q]
`, port, extra, src)), 0o600); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	status := func(method, url string, auth bool) (int, http.Header) {
		req, _ := http.NewRequest(method, url, nil)
		if auth {
			req.SetBasicAuth("admin", "correct horse")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}

	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	log := daemon(t, c, write("", port), base)
	if code, _ := status("GET", base+"/", false); code != http.StatusNotFound {
		t.Errorf("the page without a password on 0.0.0.0: %d, want 404", code)
	}
	if code, _ := status("GET", base+"/metrics", false); code != http.StatusOK {
		t.Errorf("metrics: %d", code)
	}
	if !strings.Contains(log.String(), "the page would be open to the network without a password") {
		t.Errorf("no warning:\n%s", log.String())
	}

	pwFile := filepath.Join(t.TempDir(), "web-password")
	if err := os.WriteFile(pwFile, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port = freePort(t)
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	daemon(t, c, write(fmt.Sprintf("  web:\n    password-file: %q\n    read-only: true\n", pwFile), port), base)
	if code, h := status("GET", base+"/", false); code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("without the password: %d %v", code, h)
	}
	code, h := status("GET", base+"/", true)
	if code != http.StatusOK || h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("with the password: %d %v", code, h)
	}
	if code, _ := status("POST", base+"/jobs/files/run", true); code != http.StatusForbidden {
		t.Errorf("an action without the page's token on a read-only page: %d", code)
	}
	if code, _ := status("GET", base+"/healthz", false); code != http.StatusOK {
		t.Errorf("healthz needs no password: %d", code)
	}

	// A listen address that is not one is refused at the start.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("daemon:\n  listen: \"nonsense\"\n  jobs:\n    - name: files\n      schedule: \"@daily\"\n      paths: [\"/tmp\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Fails(2, "listen address", "daemon", "--config", bad)
}
