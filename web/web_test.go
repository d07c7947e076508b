package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/volumes"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// source is a Source in memory.
type source struct {
	mu       sync.Mutex
	vols     []volumes.VolumeState
	jobs     []daemon.JobStatus
	snaps    []*repository.Snapshot
	ran      []string
	volErr   error
	running  bool
	pathJobs []PathJob

	repo       *repository.Repository
	restored   []string
	restoreErr error
}

func (s *source) Jobs() []daemon.JobStatus { return s.jobs }
func (s *source) PathJobs() []PathJob      { return s.pathJobs }
func (s *source) History(job string) []daemon.Run {
	switch job {
	case "weekly-check":
		return []daemon.Run{{Event: daemon.Event{Job: job, Started: now.Add(-time.Hour), Duration: 3, Error: "1 problem found: damage",
			Result: daemon.Result{Errors: 1, Summary: "2 snapshots checked, 9 packs read; to mend it: lifeboat repair packs 0a1b2c3d"}}}}
	case "nightly":
	default:
		return nil
	}
	return []daemon.Run{{Event: daemon.Event{Job: job, Success: true, Started: now.Add(-time.Hour), Duration: 12.5,
		Result: daemon.Result{BytesRead: 5 << 20, BytesAdded: 3 << 20, Files: 42}}, Log: "backing up volume db <ok>\n"}}
}
func (s *source) Volumes(context.Context) ([]volumes.VolumeState, error) {
	return s.vols, s.volErr
}
func (s *source) Snapshots(context.Context) ([]*repository.Snapshot, error) { return s.snaps, nil }
func (s *source) Repository(context.Context) (*repository.Repository, func(), error) {
	if s.repo == nil {
		return nil, nil, errors.New("no repository")
	}
	return s.repo, func() {}, nil
}
func (s *source) RestoreVolume(_ context.Context, snapshot, volume string, replace bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restored = append(s.restored, fmt.Sprint(snapshot, " ", volume, " ", replace))
	return s.restoreErr
}
func (s *source) Run(job string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case job != "nightly" && job != "broken":
		return fmt.Errorf("no job named %q: %w", job, daemon.ErrNoJob)
	case s.running:
		return daemon.ErrBusy
	}
	s.ran = append(s.ran, job)
	return nil
}

func snap(vol, host string, age time.Duration) *repository.Snapshot {
	return &repository.Snapshot{Time: now.Add(-age), Host: host, Volume: &repository.VolumeInfo{Name: vol},
		ID: pack.ID{byte(len(vol)), byte(age / time.Second)}, Summary: repository.Summary{TotalBytes: 4096}}
}

// A fixture of each state: db protected, cache late (its snapshot too
// old), logs failing (its job failed after its snapshot), tmp not
// covered, fresh late (never backed up); a snapshot of another host does
// not count.
func fixture() *source {
	day := 24 * time.Hour
	return &source{
		vols: []volumes.VolumeState{
			{Name: "cache", Jobs: []string{"nightly"}},
			{Name: "db", Jobs: []string{"nightly"}, Users: []volumes.UserState{{Name: "pg", Consistency: "stopped"}}},
			{Name: "fresh", Jobs: []string{"nightly"}},
			{Name: "logs", Jobs: []string{"broken"}},
			{Name: "tmp", Jobs: []string{}},
		},
		jobs: []daemon.JobStatus{
			{Name: "nightly", Schedule: "@daily", MaxAge: 2 * day, Next: now.Add(time.Hour), LastRun: now.Add(-time.Hour), LastSuccess: now.Add(-time.Hour)},
			{Name: "broken", Schedule: "@daily", MaxAge: 2 * day, LastRun: now.Add(-time.Hour), LastError: "disk full"},
		},
		snaps: []*repository.Snapshot{
			snap("db", "h1", time.Hour), snap("db", "h1", 30*day), snap("cache", "h1", 3*day),
			snap("logs", "h1", 2*time.Hour), snap("fresh", "other", time.Minute),
		},
	}
}

func server(t *testing.T, src Source, o Options) *httptest.Server {
	t.Helper()
	o.Host, o.Now = "h1", func() time.Time { return now }
	s, err := New(src, o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, ts *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	r, err := ts.Client().Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r, string(b)
}

func TestOverviewStates(t *testing.T) {
	ts := server(t, fixture(), Options{})
	_, body := get(t, ts, "/api/overview")
	var o Overview
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cache": StateLate, "db": StateProtected, "fresh": StateLate, "logs": StateFailing, "tmp": StateNotCovered}
	if len(o.Volumes) != len(want) {
		t.Fatalf("%d volumes, want %d", len(o.Volumes), len(want))
	}
	for _, v := range o.Volumes {
		if v.State != want[v.Name] {
			t.Errorf("%s is %q (%s), want %q", v.Name, v.State, v.Detail, want[v.Name])
		}
	}
	if db := o.Volumes[1]; db.Last == nil || db.Last.AgeSeconds != 3600 || db.Detail != "last snapshot 1h 0m ago" {
		t.Errorf("db's last snapshot: %+v (%s)", db.Last, db.Detail)
	}
	if o.Volumes[3].Detail != "job broken failed: disk full" || o.Counts[StateLate] != 2 || o.Snapshots != 5 {
		t.Errorf("logs: %q, counts %v, %d snapshots", o.Volumes[3].Detail, o.Counts, o.Snapshots)
	}
	// The page shows the same states, in words, in each volume's row.
	_, page := get(t, ts, "/")
	for name, state := range want {
		row := page[strings.Index(page, `id="volume-`+name+`"`):]
		row = row[:strings.Index(row, "</tr>")]
		if !strings.Contains(row, ">"+state+"</span>") {
			t.Errorf("the page's row of %s does not say %q:\n%s", name, state, row)
		}
	}
}

// A job's page lists its runs with what each read and added.
func TestJobPage(t *testing.T) {
	ts := server(t, fixture(), Options{})
	var j JobPage
	if code := getJSON(t, ts.Client(), ts.URL+"/api/jobs/nightly", &j); code != 200 || len(j.Runs) != 1 || j.Runs[0].Result.Files != 42 || j.Schedule != "@daily" {
		t.Fatalf("job: %d %+v", code, j)
	}
	_, page := get(t, ts, "/jobs/nightly")
	if !strings.Contains(page, "12.5 s") || !strings.Contains(page, "3.0 MiB") || !strings.Contains(page, "backing up volume db &lt;ok&gt;") {
		t.Fatalf("job page:\n%s", page)
	}
	// A check's run says what it found, in place of what a backup read.
	src := fixture()
	src.jobs = append(src.jobs, daemon.JobStatus{Name: "weekly-check", Kind: "check", Schedule: "@weekly"})
	_, page = get(t, server(t, src, Options{}), "/jobs/weekly-check")
	if !strings.Contains(page, `class="summary">2 snapshots checked, 9 packs read; to mend it: lifeboat repair packs 0a1b2c3d</td>`) || strings.Contains(page, "unreadable") {
		t.Fatalf("a check job's page:\n%s", page)
	}
	if r, _ := get(t, ts, "/jobs/nope"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown job: %d", r.StatusCode)
	}
}

// A job that backs up directories is judged like a volume, from the newest
// snapshot of this host tagged with the job.
func TestOverviewPathJobs(t *testing.T) {
	src := fixture()
	day := 24 * time.Hour
	src.pathJobs = []PathJob{{Job: "files", Paths: []string{"/srv/files"}}, {Job: "etc", Paths: []string{"/etc"}}}
	src.jobs = append(src.jobs,
		daemon.JobStatus{Name: "files", Schedule: "@daily", MaxAge: 2 * day},
		daemon.JobStatus{Name: "etc", Schedule: "@daily", MaxAge: 2 * day, Next: now.Add(time.Hour)})
	files := snap("", "h1", time.Hour)
	files.Volume, files.Tags, files.Paths = nil, []string{"job:files"}, []string{"/srv/files"}
	other := snap("", "other", time.Minute)
	other.Volume, other.Tags = nil, []string{"job:etc"}
	src.snaps = append(src.snaps, files, other)
	ts := server(t, src, Options{})
	var o Overview
	if code := getJSON(t, ts.Client(), ts.URL+"/api/overview", &o); code != 200 {
		t.Fatal(code)
	}
	if _, page := get(t, ts, "/"); !strings.Contains(page, `id="paths-files" data-state="protected"`) {
		t.Fatal("the page has no row of the path job")
	}
	if len(o.Paths) != 2 || o.Paths[0].State != StateProtected || o.Paths[0].Last == nil || o.Paths[1].State != StateLate || o.Paths[1].Last != nil {
		t.Fatalf("path jobs: %+v", o.Paths)
	}
}

// What the engine could not tell is said; the rest is still shown.
func TestOverviewWithoutTheEngine(t *testing.T) {
	src := fixture()
	src.volErr = errors.New("cannot connect")
	_, page := get(t, server(t, src, Options{}), "/")
	if !strings.Contains(page, "Could not read the Docker engine: cannot connect") || !strings.Contains(page, `id="job-nightly"`) {
		t.Fatalf("page without the engine:\n%s", page)
	}
}

func TestSecurityHeaders(t *testing.T) {
	ts := server(t, fixture(), Options{})
	for _, path := range []string{"/", "/api/overview", "/static/style.css", "/nope"} {
		r, _ := get(t, ts, path)
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if r.Header.Get(h) != want {
				t.Errorf("%s: %s is %q", path, h, r.Header.Get(h))
			}
		}
		if !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no content security policy", path)
		}
	}
}

// An action needs the page's token, from the page's own site, on a server
// that is not read-only; GET does nothing.
func TestActions(t *testing.T) {
	src := fixture()
	ts := server(t, src, Options{})
	_, page := get(t, ts, "/")
	i := strings.Index(page, `name="token" value="`)
	if i < 0 {
		t.Fatal("no token in the page")
	}
	token := page[i+len(`name="token" value="`):]
	token = token[:strings.Index(token, `"`)]
	wrong := "0" + token[1:] // another token, whatever the page's first digit
	if token[0] == '0' {
		wrong = "1" + token[1:]
	}
	post := func(path string, form url.Values, header map[string]string) int {
		req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		c := ts.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"no token", "/jobs/nightly/run", nil, nil, http.StatusForbidden},
		{"wrong token", "/jobs/nightly/run", url.Values{"token": {wrong}}, nil, http.StatusForbidden},
		{"another site", "/jobs/nightly/run", url.Values{"token": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"unknown job", "/jobs/nope/run", url.Values{"token": {token}}, nil, http.StatusNotFound},
		{"form", "/jobs/nightly/run", url.Values{"token": {token}}, nil, http.StatusSeeOther},
		{"script", "/jobs/nightly/run", nil, map[string]string{"X-Lifeboat-Token": token, "Sec-Fetch-Site": "same-origin"}, http.StatusAccepted},
		{"too large", "/jobs/nightly/run", url.Values{"token": {token}, "pad": {strings.Repeat("x", maxBody)}}, nil, http.StatusBadRequest},
	} {
		if got := post(tc.path, tc.form, tc.header); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	if r, _ := get(t, ts, "/jobs/nightly/run"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of an action: %d", r.StatusCode)
	}
	if len(src.ran) != 2 {
		t.Fatalf("jobs started: %v, want nightly twice", src.ran)
	}
	src.running = true
	if got := post("/jobs/nightly/run", url.Values{"token": {token}}, nil); got != http.StatusConflict {
		t.Errorf("a running job: %d", got)
	}

	ro := server(t, src, Options{ReadOnly: true})
	_, page = get(t, ro, "/")
	if strings.Contains(page, "Run now") {
		t.Error("a read-only page offers actions")
	}
}

func TestPassword(t *testing.T) {
	ts := server(t, fixture(), Options{Password: "s3cret"})
	for _, tc := range []struct {
		user, pw string
		set      bool
		want     int
	}{{"", "", false, 401}, {"admin", "wrong", true, 401}, {"admin", "s3cret", true, 200}, {"", "s3cret", true, 200}} {
		req, _ := http.NewRequest("GET", ts.URL+"/api/overview", nil)
		if tc.set {
			req.SetBasicAuth(tc.user, tc.pw)
		}
		r, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != tc.want || (tc.want == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic")) {
			t.Errorf("%+v: %d %q", tc, r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestRateLimit(t *testing.T) {
	ts := server(t, fixture(), Options{Rate: 0.001, Burst: 3})
	codes := []int{}
	for range 5 {
		r, _ := get(t, ts, "/api/jobs")
		codes = append(codes, r.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 200 429 429]" {
		t.Fatalf("codes %v", codes)
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr               string
		password, insecure bool
		ok                 bool
	}{
		{"127.0.0.1:9123", false, false, true}, {"[::1]:9123", false, false, true}, {"localhost:9123", false, false, true},
		{"127.8.9.10:1", false, false, true}, {":9123", false, false, false}, {"0.0.0.0:9123", false, false, false},
		{"192.0.2.7:9123", false, false, false}, {":9123", true, false, true}, {":9123", false, true, true}, {"nonsense", true, true, false},
	} {
		err := CheckListen(tc.addr, tc.password, tc.insecure)
		if (err == nil) != tc.ok || (err != nil && tc.addr != "nonsense" && !errors.Is(err, ErrUnprotected)) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

// The snapshot list is paged: 200 a page, newest first, with a link on.
func TestSnapshotsPaged(t *testing.T) {
	src := fixture()
	src.snaps = nil
	for i := range 450 {
		sn := snap("db", "h1", time.Duration(i)*time.Minute)
		sn.ID = pack.ID{byte(i), byte(i >> 8), 7}
		src.snaps = append(src.snaps, sn)
	}
	ts := server(t, src, Options{})
	_, page := get(t, ts, "/snapshots?volume=db")
	if n := strings.Count(page, `<tr id="snapshot-`); n != pageSize || !strings.Contains(page, "offset=200") || !strings.Contains(page, "1 to 200 shown") {
		t.Fatalf("first page: %d rows", n)
	}
	_, page = get(t, ts, "/snapshots?volume=db&offset=400")
	if n := strings.Count(page, `<tr id="snapshot-`); n != 50 || strings.Contains(page, "offset=") || !strings.Contains(page, "401 to 450 shown") {
		t.Fatalf("last page: %d rows", n)
	}
}
