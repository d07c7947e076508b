package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock moves only when told; waiters fire when their time comes.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	added   chan struct{}
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), added: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	c.added <- struct{}{}
	return ch
}

// waitForWaiter blocks until a scheduler goroutine waits on the clock.
func (c *fakeClock) waitForWaiter(t *testing.T) {
	t.Helper()
	select {
	case <-c.added:
	case <-time.After(5 * time.Second):
		t.Fatal("the scheduler never waited on the clock")
	}
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var keep []waiter
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
	c.mu.Unlock()
}

func TestScheduleMissedRunsHealthMetrics(t *testing.T) {
	clock := newClock()
	var runs atomic.Int64
	release := make(chan struct{})
	block := atomic.Bool{}
	fail := atomic.Bool{}
	done := make(chan struct{}, 10)
	job := &Job{Name: "db", Schedule: "@every 1h", Run: func(ctx context.Context, _ io.Writer) (Result, error) {
		defer func() { done <- struct{}{} }()
		runs.Add(1)
		if block.Load() {
			<-release
			clock.advance(3 * time.Hour) // the run took three hours
		}
		if fail.Load() {
			return Result{}, errors.New("disk on fire")
		}
		return Result{BytesRead: 100, Files: 2}, nil
	}}
	var events []Event
	var evMu sync.Mutex
	m := NewMetrics("node-7")
	s, err := New([]*Job{job}, clock, func(ev Event) { evMu.Lock(); events = append(events, ev); evMu.Unlock() }, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { s.Run(ctx); close(stopped) }()

	clock.waitForWaiter(t)
	clock.advance(time.Hour)
	<-done
	if runs.Load() != 1 {
		t.Fatalf("%d runs after an hour", runs.Load())
	}
	// A run that lasts three hours: the firings in between are missed.
	block.Store(true)
	clock.waitForWaiter(t)
	clock.advance(time.Hour)
	release <- struct{}{}
	<-done
	block.Store(false)
	clock.waitForWaiter(t)
	if s.Missed("db") < 2 {
		t.Fatalf("missed %d runs, want at least 2", s.Missed("db"))
	}
	if err := s.RunNow(context.Background(), "nope"); err == nil {
		t.Fatal("unknown job accepted")
	}

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d after a success", code)
	}
	m.SetRepository(12345, 6)
	m.SetVolumes([]VolumeSnapshot{{Volume: "gone", Service: "old"}})
	m.SetVolumes([]VolumeSnapshot{{Volume: "pgdata", Service: "shop_db", Last: time.Unix(1765000000, 0)}, {Volume: "cache"}})
	_, metrics := get("/metrics")
	if strings.Contains(metrics, `volume="gone"`) {
		t.Fatalf("a volume no longer there is still in the metrics:\n%s", metrics)
	}
	for _, want := range []string{`lifeboat_volume_last_snapshot_timestamp_seconds{host="node-7",service="shop_db",volume="pgdata"} 1.765e+09`,
		`lifeboat_volume_last_snapshot_timestamp_seconds{host="node-7",service="",volume="cache"} 0`, `lifeboat_job_runs_total{host="node-7",job="db",outcome="success"} 2`, `lifeboat_job_missed_runs_total{host="node-7",job="db"}`,
		`lifeboat_job_last_bytes_read{host="node-7",job="db"} 100`, `lifeboat_repository_size_bytes{host="node-7"} 12345`, `lifeboat_repository_snapshots{host="node-7"} 6`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q:\n%s", want, metrics)
		}
	}
	// Failures for longer than the schedule allows make it unhealthy.
	fail.Store(true)
	for i := 0; i < 4; i++ {
		clock.advance(time.Hour)
		<-done
		clock.waitForWaiter(t)
	}
	code, body := get("/healthz")
	if code != 503 || !strings.Contains(body, `"db"`) {
		t.Fatalf("healthz after failures: %d %s", code, body)
	}
	cancel()
	<-stopped
	evMu.Lock()
	defer evMu.Unlock()
	if last := events[len(events)-1]; last.Success || last.Error != "disk on fire" {
		t.Fatalf("last event %+v", last)
	}
}

func TestBusyAndBadSchedules(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	job := &Job{Name: "slow", Schedule: "0 3 * * *", Run: func(ctx context.Context, _ io.Writer) (Result, error) {
		close(started)
		<-release
		return Result{}, nil
	}}
	s, err := New([]*Job{job}, newClock(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.RunNow(context.Background(), "slow") }()
	<-started
	if err := s.RunNow(context.Background(), "slow"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second run at once: %v", err)
	}
	close(release)
	for _, bad := range []*Job{{Name: "x", Schedule: "every day", Run: job.Run}, {Schedule: "@daily", Run: job.Run}} {
		if _, err := New([]*Job{bad}, newClock(), nil, nil); err == nil {
			t.Errorf("job %+v accepted", bad)
		}
	}
	if _, err := New([]*Job{{Name: "a", Schedule: "@daily", Run: job.Run}, {Name: "a", Schedule: "@daily", Run: job.Run}}, newClock(), nil, nil); err == nil {
		t.Error("duplicate job names accepted")
	}
}

func TestWebhook(t *testing.T) {
	var got []Event
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			w.WriteHeader(401)
			return
		}
		var ev Event
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer srv.Close()
	h := &Webhook{URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer t0ken"}}
	h.Notify(Event{Job: "ok", Success: true})
	h.Notify(Event{Job: "bad", Error: "boom"})
	h.OnSuccess = true
	h.Notify(Event{Job: "ok2", Success: true})
	var failures []error
	(&Webhook{URL: srv.URL, Errors: func(err error) { failures = append(failures, err) }}).Notify(Event{Job: "x"})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Job != "bad" || got[0].Error != "boom" || got[1].Job != "ok2" {
		t.Fatalf("received %+v", got)
	}
	if len(failures) != 1 || !strings.Contains(failures[0].Error(), "401") {
		t.Fatalf("delivery failures %v", failures)
	}
}

// Start runs a job in the background; Status follows it: running, then
// its error; a second Start meanwhile is ErrBusy, an unknown job ErrNoJob.
func TestStartAndStatus(t *testing.T) {
	clock := newClock()
	release := make(chan error)
	s, err := New([]*Job{{Name: "nightly", Schedule: "@daily", Run: func(_ context.Context, log io.Writer) (Result, error) {
		fmt.Fprintln(log, "backing up volume pgdata")
		return Result{}, <-release
	}}}, clock, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), "nope"); !errors.Is(err, ErrNoJob) {
		t.Fatalf("unknown job: %v", err)
	}
	if err := s.Start(context.Background(), "nightly"); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; !st.Running || st.LastRun != clock.Now() || st.MaxAge != 72*time.Hour || st.Late {
		t.Fatalf("while it runs: %+v", st)
	}
	if err := s.Start(context.Background(), "nightly"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second start: %v", err)
	}
	release <- errors.New("disk full")
	deadline := time.Now().Add(10 * time.Second)
	for s.Status()[0].Running {
		if time.Now().After(deadline) {
			t.Fatal("the run did not end")
		}
		time.Sleep(time.Millisecond)
	}
	if st := s.Status()[0]; st.LastError != "disk full" || !st.LastSuccess.IsZero() || st.Missed != 1 {
		t.Fatalf("after a failed run: %+v", st)
	}
	if err := s.Start(context.Background(), "nightly"); err != nil {
		t.Fatal(err)
	}
	release <- nil
	for deadline := time.Now().Add(10 * time.Second); s.Status()[0].Running || len(s.History("nightly")) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second run did not end")
		}
	}
	if h := s.History("nightly"); len(h) != 2 || !h[0].Success || h[1].Error != "disk full" || h[1].Log != "backing up volume pgdata\n" || s.History("nope") != nil {
		t.Fatalf("history, newest first: %+v", h)
	}
}
