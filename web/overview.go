package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/volumes"
)

// States of a volume's protection, in words (the page shows them as
// words, not only as colours).
const (
	StateProtected  = "protected"   // a recent enough snapshot, its job not failing
	StateLate       = "late"        // no snapshot, or the last is older than its jobs' schedules allow
	StateFailing    = "failing"     // a job that backs it up failed since its last snapshot
	StateNotCovered = "not covered" // no job backs it up
)

// Overview is the page's first view: every volume's protection and every
// job. GET /api/overview returns it as JSON.
type Overview struct {
	Host       string             `json:"host"` // the host name this daemon's snapshots record
	Generated  time.Time          `json:"generated"`
	Volumes    []VolumeRow        `json:"volumes"`
	Paths      []PathRow          `json:"paths"` // the jobs that back up directories
	Jobs       []daemon.JobStatus `json:"jobs"`
	Counts     map[string]int     `json:"counts"`    // volumes by state
	Snapshots  int                `json:"snapshots"` // in the repository
	Problems   []string           `json:"problems,omitempty"`
	ReadOnly   bool               `json:"read_only"`
	jobsByName map[string]daemon.JobStatus
}

// VolumeRow is a volume with its protection.
type VolumeRow struct {
	volumes.VolumeState
	State  string       `json:"state"`
	Detail string       `json:"detail"` // the state's reason, in words
	Last   *SnapshotRef `json:"last_snapshot,omitempty"`
}

// PathJob is a job that backs up directories (not volumes).
type PathJob struct {
	Job   string   `json:"job"`
	Paths []string `json:"paths"`
}

// PathRow is a path job with its protection, judged like a volume's from
// the newest snapshot of this host tagged with the job (job:NAME).
type PathRow struct {
	PathJob
	State  string       `json:"state"`
	Detail string       `json:"detail"`
	Last   *SnapshotRef `json:"last_snapshot,omitempty"`
}

// SnapshotRef is a volume's newest snapshot.
type SnapshotRef struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	AgeSeconds float64   `json:"age_seconds"`
	Bytes      int64     `json:"bytes"`
	Incomplete bool      `json:"incomplete,omitempty"`
}

// overview judges each volume's protection: vols from the engine, jobs
// from the scheduler, snaps from the repository (those of host count).
func overview(host string, now time.Time, vols []volumes.VolumeState, pathJobs []PathJob, jobs []daemon.JobStatus, snaps []*repository.Snapshot) *Overview {
	o := &Overview{Host: host, Generated: now, Jobs: jobs, Counts: map[string]int{}, Snapshots: len(snaps),
		Volumes: make([]VolumeRow, 0, len(vols)), Paths: make([]PathRow, 0, len(pathJobs)), jobsByName: map[string]daemon.JobStatus{}}
	for _, j := range jobs {
		o.jobsByName[j.Name] = j
	}
	newest, byJob := map[string]*repository.Snapshot{}, map[string]*repository.Snapshot{}
	later := func(m map[string]*repository.Snapshot, k string, sn *repository.Snapshot) {
		if cur := m[k]; cur == nil || sn.Time.After(cur.Time) {
			m[k] = sn
		}
	}
	for _, sn := range snaps {
		if sn.Host != host {
			continue
		}
		if sn.Volume != nil {
			later(newest, sn.Volume.Name, sn)
		}
		for _, tag := range sn.Tags {
			if job, ok := strings.CutPrefix(tag, "job:"); ok {
				later(byJob, job, sn)
			}
		}
	}
	for _, v := range vols {
		row := VolumeRow{VolumeState: v, Last: ref(now, newest[v.Name])}
		row.State, row.Detail = o.judge(now, v.Jobs, newest[v.Name])
		o.Counts[row.State]++
		o.Volumes = append(o.Volumes, row)
	}
	for _, pj := range pathJobs {
		row := PathRow{PathJob: pj, Last: ref(now, byJob[pj.Job])}
		row.State, row.Detail = o.judge(now, []string{pj.Job}, byJob[pj.Job])
		o.Paths = append(o.Paths, row)
	}
	return o
}

// ref is a snapshot as a row shows it; nil for none.
func ref(now time.Time, sn *repository.Snapshot) *SnapshotRef {
	if sn == nil {
		return nil
	}
	return &SnapshotRef{ID: sn.ID.String(), Time: sn.Time, AgeSeconds: now.Sub(sn.Time).Seconds(),
		Bytes: sn.Summary.TotalBytes, Incomplete: sn.Incomplete}
}

// judge is the state, and its reason, of what the named jobs back up,
// last its newest snapshot.
func (o *Overview) judge(now time.Time, jobs []string, last *repository.Snapshot) (string, string) {
	var covering []daemon.JobStatus
	for _, name := range jobs {
		if j, ok := o.jobsByName[name]; ok {
			covering = append(covering, j)
		}
	}
	if len(covering) == 0 {
		return StateNotCovered, "no job backs it up"
	}
	maxAge := covering[0].MaxAge
	for _, j := range covering {
		if j.LastError != "" && !j.Running && (last == nil || last.Time.Before(j.LastRun)) {
			return StateFailing, fmt.Sprintf("job %s failed: %s", j.Name, j.LastError)
		}
		maxAge = min(maxAge, j.MaxAge)
	}
	if last == nil {
		return StateLate, "no snapshot yet; " + nextRun(covering)
	}
	age := now.Sub(last.Time)
	if age > maxAge {
		return StateLate, fmt.Sprintf("last snapshot %s ago, its jobs allow %s", human.Duration(age), human.Duration(maxAge))
	}
	return StateProtected, fmt.Sprintf("last snapshot %s ago", human.Duration(age))
}

// nextRun says when the first of jobs runs next (or that one runs now).
func nextRun(jobs []daemon.JobStatus) string {
	next := jobs[0]
	for _, j := range jobs {
		if j.Running {
			return "job " + j.Name + " is running"
		}
		if j.Next.Before(next.Next) {
			next = j
		}
	}
	return fmt.Sprintf("job %s runs next at %s", next.Name, next.Next.Local().Format("2006-01-02 15:04"))
}
