// Package daemon runs backup jobs on cron schedules, unattended: never two
// runs of one job at once, missed runs counted, optional jitter, health and
// Prometheus metrics over HTTP, and webhook notifications. Time is an
// injected Clock, so tests never wait for the wall clock.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Clock is the scheduler's time source.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Result is what one run of a job reports for the metrics.
type Result struct {
	BytesRead, BytesAdded, Files, Errors int64
}

// Job is one scheduled task.
type Job struct {
	Name     string
	Schedule string        // standard 5-field cron, or @daily, @every 1h, ...
	Jitter   time.Duration // a random delay up to this after each firing
	Run      func(ctx context.Context) (Result, error)

	sched cron.Schedule
}

// Event is what a notification says about a finished run.
type Event struct {
	Job      string    `json:"job"`
	Success  bool      `json:"success"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	Result   Result    `json:"result"`
}

// Scheduler runs jobs. Create it with New.
type Scheduler struct {
	jobs    []*Job
	clock   Clock
	notify  func(Event)
	metrics *Metrics
	rand    func(n int64) int64

	mu    sync.Mutex
	state map[string]*jobState
	start time.Time
}

type jobState struct {
	running     sync.Mutex // held while the job runs: never two runs at once
	lastSuccess time.Time
	lastRun     time.Time
	missed      int
}

// New checks the schedules and prepares a scheduler. notify may be nil.
func New(jobs []*Job, clock Clock, notify func(Event), m *Metrics) (*Scheduler, error) {
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s := &Scheduler{jobs: jobs, clock: clock, notify: notify, metrics: m, state: map[string]*jobState{},
		rand: func(n int64) int64 { return rand.Int64N(n) }}
	for _, j := range jobs {
		if j.Name == "" || j.Run == nil {
			return nil, errors.New("every job needs a name and something to run")
		}
		if _, dup := s.state[j.Name]; dup {
			return nil, fmt.Errorf("job %q is defined twice", j.Name)
		}
		sched, err := parser.Parse(j.Schedule)
		if err != nil {
			return nil, fmt.Errorf("job %s: schedule %q: %w", j.Name, j.Schedule, err)
		}
		j.sched = sched
		s.state[j.Name] = &jobState{}
	}
	if s.notify == nil {
		s.notify = func(Event) {}
	}
	return s, nil
}

// Run runs every job on its schedule until ctx ends; a running job is then
// cancelled through its context and awaited.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	s.start = s.clock.Now()
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		wg.Add(1)
		go func(j *Job) {
			defer wg.Done()
			s.loop(ctx, j)
		}(j)
	}
	wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context, j *Job) {
	next := j.sched.Next(s.clock.Now())
	for {
		wait := next.Sub(s.clock.Now())
		if j.Jitter > 0 {
			wait += time.Duration(s.rand(int64(j.Jitter)))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(wait):
		}
		_ = s.RunNow(ctx, j.Name)
		// Firings that passed while the job ran are missed, not queued.
		now := s.clock.Now()
		following := j.sched.Next(next)
		for !following.After(now) {
			s.addMissed(j.Name)
			following = j.sched.Next(following)
		}
		next = following
	}
}

func (s *Scheduler) addMissed(name string) {
	s.mu.Lock()
	st := s.state[name]
	st.missed++
	s.mu.Unlock()
	s.metrics.missed(name)
}

// ErrBusy: the job is running already.
var ErrBusy = errors.New("job is already running")

// RunNow runs a job once, now (for --once and the schedule alike).
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	var job *Job
	for _, j := range s.jobs {
		if j.Name == name {
			job = j
		}
	}
	if job == nil {
		return fmt.Errorf("no job named %q", name)
	}
	st := s.state[name]
	if !st.running.TryLock() {
		s.addMissed(name)
		return ErrBusy
	}
	defer st.running.Unlock()
	started := s.clock.Now()
	res, err := job.Run(ctx)
	ev := Event{Job: name, Success: err == nil, Started: started, Duration: s.clock.Now().Sub(started).Seconds(), Result: res}
	s.mu.Lock()
	st.lastRun = started
	if err == nil {
		st.lastSuccess = s.clock.Now()
	} else {
		ev.Error = err.Error()
	}
	s.mu.Unlock()
	s.metrics.record(ev, st.lastSuccess)
	s.notify(ev)
	return err
}

// Health reports the jobs whose last success is older than their schedule
// allows: twice the time between two firings, counted from the last
// success or, before any, from the start.
func (s *Scheduler) Health() (ok bool, late []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, j := range s.jobs {
		since := s.state[j.Name].lastSuccess
		if since.IsZero() {
			since = s.start
		}
		first := j.sched.Next(since)
		period := j.sched.Next(first).Sub(first)
		if now.Sub(since) > first.Sub(since)+2*period+j.Jitter {
			late = append(late, j.Name)
		}
	}
	return len(late) == 0, late
}

// Missed returns how many firings of a job were skipped.
func (s *Scheduler) Missed(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.state[name]; ok {
		return st.missed
	}
	return 0
}
