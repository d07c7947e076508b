package daemon

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the Prometheus series of the daemon, in a registry of its
// own (no global state).
type Metrics struct {
	Registry    *prometheus.Registry
	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	runs        *prometheus.CounterVec
	missedRuns  *prometheus.CounterVec
	bytesRead   *prometheus.GaugeVec
	bytesAdded  *prometheus.GaugeVec
	files       *prometheus.GaugeVec
	errors      *prometheus.GaugeVec
	repoBytes   prometheus.Gauge
	repoSnaps   prometheus.Gauge
	volumeLast  *prometheus.GaugeVec
}

// VolumeSnapshot is a volume of this host's engine with the swarm service
// whose task uses it ("" for none) and its newest snapshot taken on this
// host (zero: none).
type VolumeSnapshot struct {
	Volume, Service string
	Last            time.Time
}

// NewMetrics creates and registers the series, every one labelled with
// host (the host name snapshots record), so that one Prometheus can scrape
// a fleet of daemons.
func NewMetrics(host string) *Metrics {
	job := []string{"job"}
	g := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "lifeboat", Name: name, Help: help}, job)
	}
	m := &Metrics{
		Registry:    prometheus.NewRegistry(),
		lastSuccess: g("job_last_success_timestamp_seconds", "When the job last succeeded."),
		duration:    g("job_last_duration_seconds", "How long the last run took."),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lifeboat", Name: "job_runs_total",
			Help: "Runs by outcome."}, []string{"job", "outcome"}),
		missedRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "lifeboat", Name: "job_missed_runs_total",
			Help: "Scheduled runs skipped because the job was still running."}, job),
		bytesRead:  g("job_last_bytes_read", "Bytes read by the last run."),
		bytesAdded: g("job_last_bytes_added", "Bytes added to the repository by the last run."),
		files:      g("job_last_files", "Files seen by the last run."),
		errors:     g("job_last_errors", "Entries the last run could not read."),
		repoBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "lifeboat", Name: "repository_size_bytes",
			Help: "Bytes stored in the repository's packs."}),
		repoSnaps: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "lifeboat", Name: "repository_snapshots",
			Help: "Snapshots in the repository."}),
		volumeLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "lifeboat", Name: "volume_last_snapshot_timestamp_seconds",
			Help: "When the newest snapshot of each volume of this host's engine taken on this host was taken (0: none); service is the swarm service whose task uses it."},
			[]string{"volume", "service"}),
	}
	prometheus.WrapRegistererWith(prometheus.Labels{"host": host}, m.Registry).MustRegister(m.lastSuccess, m.duration, m.runs, m.missedRuns, m.bytesRead, m.bytesAdded, m.files, m.errors,
		m.repoBytes, m.repoSnaps, m.volumeLast)
	return m
}

func (m *Metrics) record(ev Event, lastSuccess interface{ Unix() int64 }) {
	if m == nil {
		return
	}
	outcome := "failure"
	if ev.Success {
		outcome = "success"
		m.lastSuccess.WithLabelValues(ev.Job).Set(float64(lastSuccess.Unix()))
		m.bytesRead.WithLabelValues(ev.Job).Set(float64(ev.Result.BytesRead))
		m.bytesAdded.WithLabelValues(ev.Job).Set(float64(ev.Result.BytesAdded))
		m.files.WithLabelValues(ev.Job).Set(float64(ev.Result.Files))
		m.errors.WithLabelValues(ev.Job).Set(float64(ev.Result.Errors))
	}
	m.runs.WithLabelValues(ev.Job, outcome).Inc()
	m.duration.WithLabelValues(ev.Job).Set(ev.Duration)
}

// SetVolumes records every volume's newest snapshot; volumes not given
// are dropped from the series.
func (m *Metrics) SetVolumes(vols []VolumeSnapshot) {
	if m == nil {
		return
	}
	m.volumeLast.Reset()
	for _, v := range vols {
		at := 0.0
		if !v.Last.IsZero() {
			at = float64(v.Last.Unix())
		}
		m.volumeLast.WithLabelValues(v.Volume, v.Service).Set(at)
	}
}

// SetRepository records the repository's size and snapshot count.
func (m *Metrics) SetRepository(bytes int64, snapshots int) {
	if m != nil {
		m.repoBytes.Set(float64(bytes))
		m.repoSnaps.Set(float64(snapshots))
	}
}

func (m *Metrics) missed(job string) {
	if m != nil {
		m.missedRuns.WithLabelValues(job).Inc()
	}
}

// Handler serves /metrics (Prometheus) and /healthz (200, or 503 naming the
// late jobs).
func (s *Scheduler) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.metrics != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, late := s.Health()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"healthy": ok, "late_jobs": late})
	})
	return mux
}
