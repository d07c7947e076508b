// Package daemon runs backup jobs on cron schedules, unattended: never two
// runs of one job at once, missed runs counted, optional jitter, health and
// Prometheus metrics over HTTP, and webhook notifications. Time is an
// injected Clock, so tests never wait for the wall clock.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
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
	// Summary says in one line what a run found or did, for people (what
	// a prune freed, what a check found); "" when the numbers say it.
	Summary string `json:",omitempty"`
}

// Job is one scheduled task.
type Job struct {
	Name     string
	Kind     string        // what it does, for people: "backup", "prune", "check"
	Schedule string        // standard 5-field cron, or @daily, @every 1h, ...
	Jitter   time.Duration // a random delay up to this after each firing
	// Run does the job's work. What it writes to log is kept with the
	// run's record (History), up to 64 KiB; several goroutines may write.
	Run func(ctx context.Context, log io.Writer) (Result, error)

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
	busy        bool       // running is held (for Status)
	lastSuccess time.Time
	lastRun     time.Time
	lastError   string // of the last run; "" if it succeeded
	lastSummary string // of the last run (Result.Summary)
	lastSecs    float64
	missed      int
	history     []Run // the last historyLen runs, oldest first
}

// historyLen is how many runs of a job History keeps.
const historyLen = 50

// New checks the schedules and prepares a scheduler. notify may be nil.
func New(jobs []*Job, clock Clock, notify func(Event), m *Metrics) (*Scheduler, error) {
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s := &Scheduler{jobs: jobs, clock: clock, notify: notify, metrics: m, state: map[string]*jobState{},
		rand: func(n int64) int64 { return rand.Int64N(n) }, start: clock.Now()}
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

// ErrNoJob: no job has the name.
var ErrNoJob = errors.New("no such job")

// RunNow runs a job once, now (for --once and the schedule alike).
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	job, st, err := s.take(name)
	if err != nil {
		return err
	}
	return s.run(ctx, job, st)
}

// Start runs a job once, now, in the background (the web page's "run
// now"): it returns ErrNoJob or ErrBusy at once, or nil once the run has
// begun. The run ends when it is done or ctx ends.
func (s *Scheduler) Start(ctx context.Context, name string) error {
	job, st, err := s.take(name)
	if err != nil {
		return err
	}
	go func() { _ = s.run(ctx, job, st) }()
	return nil
}

// take finds a job and takes its running lock (ErrBusy if held: the
// firing is counted as missed).
func (s *Scheduler) take(name string) (*Job, *jobState, error) {
	var job *Job
	for _, j := range s.jobs {
		if j.Name == name {
			job = j
		}
	}
	if job == nil {
		return nil, nil, fmt.Errorf("no job named %q: %w", name, ErrNoJob)
	}
	st := s.state[name]
	if !st.running.TryLock() {
		s.addMissed(name)
		return nil, nil, ErrBusy
	}
	s.mu.Lock()
	st.busy, st.lastRun = true, s.clock.Now()
	s.mu.Unlock()
	return job, st, nil
}

// run runs a taken job, records and reports its outcome, and releases it.
func (s *Scheduler) run(ctx context.Context, job *Job, st *jobState) error {
	defer st.running.Unlock()
	s.mu.Lock()
	started := st.lastRun
	s.mu.Unlock()
	log := &runLog{}
	res, err := job.Run(ctx, log)
	ev := Event{Job: job.Name, Success: err == nil, Started: started, Duration: s.clock.Now().Sub(started).Seconds(), Result: res}
	s.mu.Lock()
	st.busy, st.lastError, st.lastSecs, st.lastSummary = false, "", ev.Duration, res.Summary
	if err == nil {
		st.lastSuccess = s.clock.Now()
	} else {
		ev.Error = err.Error()
		st.lastError = ev.Error
	}
	st.history = append(st.history, Run{Event: ev, Log: log.String()})
	if len(st.history) > historyLen {
		st.history = st.history[len(st.history)-historyLen:]
	}
	s.mu.Unlock()
	s.metrics.record(ev, st.lastSuccess)
	s.notify(ev)
	return err
}

// Health reports the jobs whose last success is older than their schedule
// allows (JobStatus.Late).
func (s *Scheduler) Health() (ok bool, late []string) {
	for _, st := range s.Status() {
		if st.Late {
			late = append(late, st.Name)
		}
	}
	return len(late) == 0, late
}

// JobStatus is what a job did and will do, for the health check and the
// web page.
type JobStatus struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind,omitempty"`
	Schedule string    `json:"schedule"`
	Next     time.Time `json:"next"` // the next firing (before jitter)
	Running  bool      `json:"running"`
	// LastRun is when the last run started (zero before any); LastError
	// is its error, "" if it succeeded, and LastSummary its Result.Summary.
	LastRun      time.Time `json:"last_run,omitzero"`
	LastSuccess  time.Time `json:"last_success,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastSummary  string    `json:"last_summary,omitempty"`
	LastDuration float64   `json:"last_duration_seconds,omitempty"`
	Missed       int       `json:"missed"`
	// MaxAge is how old a success may be before the job is Late: twice
	// the time between two firings, plus the jitter and the wait for the
	// first firing after it. Late is counted from the last success or,
	// before any, from the scheduler's start.
	MaxAge        time.Duration `json:"-"`
	MaxAgeSeconds float64       `json:"max_age_seconds"`
	Late          bool          `json:"late"`
}

// Status returns every job's status, in the order of the jobs.
func (s *Scheduler) Status() []JobStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	out := make([]JobStatus, 0, len(s.jobs))
	for _, j := range s.jobs {
		st := s.state[j.Name]
		since := st.lastSuccess
		if since.IsZero() {
			since = s.start
		}
		first := j.sched.Next(since)
		period := j.sched.Next(first).Sub(first)
		maxAge := first.Sub(since) + 2*period + j.Jitter
		out = append(out, JobStatus{Name: j.Name, Kind: j.Kind, Schedule: j.Schedule, Next: j.sched.Next(now), Running: st.busy,
			LastRun: st.lastRun, LastSuccess: st.lastSuccess, LastError: st.lastError, LastSummary: st.lastSummary, LastDuration: st.lastSecs,
			Missed: st.missed, MaxAge: maxAge, MaxAgeSeconds: maxAge.Seconds(), Late: now.Sub(since) > maxAge})
	}
	return out
}

// Run is one run of a job: its event, and what it wrote to its log.
type Run struct {
	Event
	Log string `json:"log,omitempty"`
}

// maxRunLog bounds what a run's log keeps.
const maxRunLog = 64 << 10

// runLog keeps the first maxRunLog bytes a run writes.
type runLog struct {
	mu  sync.Mutex
	b   strings.Builder
	cut bool
}

func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	room := maxRunLog - l.b.Len()
	if len(p) > room {
		l.b.Write(p[:max(room, 0)])
		l.cut = true
		return len(p), nil
	}
	l.b.Write(p)
	return len(p), nil
}

func (l *runLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return l.b.String() + "\n(the log goes on; only its first 64 KiB are kept)\n"
	}
	return l.b.String()
}

// History returns a job's last runs (up to 50), newest first; nil for a
// job that does not exist.
func (s *Scheduler) History(name string) []Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.state[name]
	if !ok {
		return nil
	}
	out := make([]Run, 0, len(st.history))
	for i := len(st.history) - 1; i >= 0; i-- {
		out = append(out, st.history[i])
	}
	return out
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
