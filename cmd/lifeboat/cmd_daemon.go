package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/lifeboat-backup/lifeboat/configs"
	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/prune"
	"github.com/lifeboat-backup/lifeboat/volumes"
	"github.com/spf13/cobra"
)

func newDaemonCmd(a *app) *cobra.Command {
	var once string
	cmd := &cobra.Command{
		Use:   "daemon --config FILE [--once JOB]",
		Short: "Run scheduled backups, retention and prunes",
		Long: `Run the jobs of the config file's daemon: section on their cron schedules: back
up volumes (by name, label or all) or paths, then forget by the job's keep:
policy, and prune on the job's prune: schedule (run as the job NAME-prune)
and check the repository on its check: schedule (NAME-check; with
check-read-data: 5% it also reads and authenticates a random twentieth of
the packs). A check that finds damage fails its run, whose result says
what to repair. A job with nothing to back up and only prune: or check: is
a maintenance job, run under its own name (or NAME-prune and NAME-check
when it has both): on a fleet that shares one repository, one host prunes
(examples/swarm). A job never runs twice at
once; firings that pass while it runs are counted as missed. A job that finds
the repository locked (an exclusive lock elsewhere: repair index, prune
--exclusive; or, for a prune, another prune) is retried. Backups run beside
prunes; a prune deletes what earlier prunes marked.

HTTP serves a web page on listen: (default 127.0.0.1:9123; "off" serves
nothing, for a second daemon on a host another one serves): every volume's
protection (protected, late, failing, not covered by any job), who uses it
and whether their labels make its copy consistent, and the jobs with "run
now". On an address other than loopback the page needs web: password-file:
(or LIFEBOAT_WEB_PASSWORD) or web: insecure: true; web: read-only: true
refuses every action. /healthz (503 when a job's last success is older
than its schedule allows) and /metrics (Prometheus) are served beside it,
without a password. notify: posts a JSON
event to a webhook on failure (and on success with on-success: true).

SIGTERM or Ctrl-C stops the daemon; a running backup is aborted cleanly and
the repository stays valid. --once JOB runs one job now and exits with its
status, for cron on the host. See examples/lifeboat.yml.`,
		Example: `  lifeboat daemon --config /etc/lifeboat/lifeboat.yml
  lifeboat daemon --config /etc/lifeboat/lifeboat.yml --once nightly`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), a, once)
		},
	}
	cmd.Flags().StringVar(&once, "once", "", "run this job now and exit")
	return cmd
}

func runDaemon(ctx context.Context, a *app, once string) error {
	d := a.cfg.Daemon
	if len(d.Jobs) == 0 {
		return usageError{errors.New("the config file has no daemon: jobs (see examples/lifeboat.yml)")}
	}
	jobs := daemonJobs(a, d.Jobs)
	hook := &daemon.Webhook{URL: d.Notify.URL, Headers: d.Notify.Headers, OnSuccess: d.Notify.OnSuccess,
		Errors: func(err error) { a.out.warn("notify", err) }}
	metrics := daemon.NewMetrics(a.snapshotHost(ctx))
	s, err := daemon.New(jobs, daemon.RealClock{}, func(ev daemon.Event) {
		said := ""
		if ev.Result.Summary != "" {
			said = " (" + ev.Result.Summary + ")"
		}
		if ev.Success {
			a.out.infof("job %s succeeded in %.1fs%s", ev.Job, ev.Duration, said)
		} else {
			a.out.warn("job "+ev.Job, errors.New(ev.Error+said))
		}
		hook.Notify(ev)
		_ = a.measure(ctx, metrics) // the last figures stay until the next measure works
	}, metrics)
	if err != nil {
		return usageError{err}
	}
	if once != "" {
		return s.RunNow(ctx, once)
	}
	// The repository as it is now, not 0 until the first job has run.
	if err := a.measure(ctx, metrics); err != nil {
		a.out.warn("metrics", err)
	}
	stop, err := a.serveDaemon(ctx, s)
	if err != nil {
		return err
	}
	defer stop()
	a.out.infof("lifeboat daemon: %d jobs scheduled", len(jobs))
	s.Run(ctx)
	return nil // stopped by a signal: a clean exit
}

// daemonJobs are the scheduler's jobs for the configured ones: a backup
// job's backup as NAME, its prune as NAME-prune and its check as
// NAME-check; a maintenance job's prune or check as NAME, or, when it has
// both, as NAME-prune and NAME-check.
func daemonJobs(a *app, configured []configs.Job) []*daemon.Job {
	var jobs []*daemon.Job
	for _, j := range configured {
		suffix := func(kind string) string { return "-" + kind }
		if !j.Maintenance() {
			jobs = append(jobs, &daemon.Job{Name: j.Name, Kind: "backup", Schedule: j.Schedule, Jitter: j.Jitter,
				Run: a.logging(func(a *app, ctx context.Context) (daemon.Result, error) { return a.backupJob(j).Run(ctx) })})
		} else if j.Prune == "" || j.Check == "" {
			suffix = func(string) string { return "" }
		}
		if j.Prune != "" {
			jobs = append(jobs, &daemon.Job{Name: j.Name + suffix("prune"), Kind: "prune", Schedule: j.Prune, Jitter: j.Jitter,
				Run: a.logging((*app).pruneJob)})
		}
		if j.Check != "" {
			jobs = append(jobs, &daemon.Job{Name: j.Name + suffix("check"), Kind: "check", Schedule: j.Check, Jitter: j.Jitter,
				Run: a.logging(func(a *app, ctx context.Context) (daemon.Result, error) { return a.checkJob(ctx, j.CheckReadData) })})
		}
	}
	return jobs
}

// backupJob is a job's scheduled work: back up what it names, tagged
// with the job, then forget by its policy (daemon.BackupJob retries each
// while the repository is locked).
func (a *app) backupJob(j configs.Job) daemon.BackupJob {
	tag := "job:" + j.Name
	o := backupOptions{tags: append([]string{tag}, j.Tags...), paths: j.Paths}
	b := daemon.BackupJob{Clock: daemon.RealClock{}, Waiting: a.retrying,
		Backup: func(ctx context.Context) (repository.Summary, error) {
			if len(j.Paths) == 0 {
				return a.backupVolumes(ctx, o, jobSelection(j))
			}
			repo, done, err := a.openRepository(ctx, sharedLock, true)
			if err != nil {
				return repository.Summary{}, err
			}
			defer done()
			sn, err := backupPaths(ctx, a, repo, o, a.snapshotHost(ctx), nil)
			if err != nil {
				return repository.Summary{}, err
			}
			return sn.Summary, nil
		}}
	if policy := keepPolicy(j.Keep); !policy.Empty() {
		b.Forget = func(ctx context.Context) error {
			return runForget(ctx, a, forgetOptions{policy: policy, f: filterFlags{tags: []string{tag}}}, nil)
		}
	}
	return b
}

// retrying tells that a job waits for a locked repository.
func (a *app) retrying(delay time.Duration) {
	a.out.infof("repository locked, retrying in %s", delay)
}

// measure sets the metrics of the repository and, when a job backs up
// volumes, of every volume of this host's engine: its newest snapshot
// taken on this host, and the swarm service that uses it.
func (a *app) measure(ctx context.Context, m *daemon.Metrics) error {
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return fmt.Errorf("measuring the repository: %w", err)
	}
	defer done()
	packs, err := repo.StoredPacks(ctx)
	if err != nil {
		return fmt.Errorf("measuring the repository: %w", err)
	}
	var size int64
	for _, n := range packs {
		size += n
	}
	snaps, err := repo.Snapshots(ctx)
	if err != nil {
		return fmt.Errorf("measuring the repository: %w", err)
	}
	m.SetRepository(size, len(snaps))
	if !slices.ContainsFunc(a.cfg.Daemon.Jobs, func(j configs.Job) bool { return !j.BacksUpNothing() && len(j.Paths) == 0 }) {
		return nil
	}
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return fmt.Errorf("measuring the volumes: %w", err)
	}
	defer eng.Close()
	vols, err := volumes.LastSnapshots(ctx, eng, snaps, a.snapshotHost(ctx))
	if err != nil {
		return fmt.Errorf("measuring the volumes: %w", err)
	}
	out := make([]daemon.VolumeSnapshot, len(vols))
	for i, v := range vols {
		out[i] = daemon.VolumeSnapshot{Volume: v.Volume, Service: v.Service}
		if v.Last != nil {
			out[i].Last = v.Last.Time
		}
	}
	m.SetVolumes(out)
	return nil
}

// logging runs a job's work with an app that also prints to the run's
// log (the daemon keeps it with the run, for the page): what the command
// prints, its warnings and its sidecars' standard error.
func (a *app) logging(work func(a *app, ctx context.Context) (daemon.Result, error)) func(context.Context, io.Writer) (daemon.Result, error) {
	return func(ctx context.Context, log io.Writer) (daemon.Result, error) {
		run := *a
		run.stdout, run.stderr = io.MultiWriter(a.stdout, log), io.MultiWriter(a.stderr, log)
		run.out = &output{json: a.out.json, quiet: a.out.quiet, stdout: io.MultiWriter(a.out.stdout, log), stderr: io.MultiWriter(a.out.stderr, log)}
		return work(&run, ctx)
	}
}

// pruneJob prunes, retrying while the repository is locked.
func (a *app) pruneJob(ctx context.Context) (daemon.Result, error) {
	var rep *prune.Report
	err := daemon.Retry(ctx, daemon.RealClock{}, a.retrying, func(ctx context.Context) (err error) {
		rep, err = runPrune(ctx, a, prune.Options{})
		return err
	})
	if err != nil {
		return daemon.Result{}, err
	}
	return daemon.Result{Summary: fmt.Sprintf("%s deleted, %s freed; %s marked for deletion by a later prune",
		human.Count(rep.PacksDeleted, "pack", "packs"), human.Bytes(rep.BytesFreed), human.Count(rep.PacksMarked, "pack", "packs"))}, nil
}

// checkJob checks the repository (reading the share of the packs subset
// gives, none when empty), retrying while it is locked. Damage fails the
// run, and its summary then says what to repair.
func (a *app) checkJob(ctx context.Context, subset string) (daemon.Result, error) {
	var rep *checker.Report
	err := daemon.Retry(ctx, daemon.RealClock{}, a.retrying, func(ctx context.Context) (err error) {
		rep, err = runCheck(ctx, a, checkOptions{subset: subset})
		return err
	})
	if rep == nil {
		return daemon.Result{}, err
	}
	res := daemon.Result{Errors: int64(len(rep.Problems)), Summary: fmt.Sprintf("%s checked, %s read",
		human.Count(rep.Snapshots, "snapshot", "snapshots"), human.Count(rep.PacksRead, "pack", "packs"))}
	switch next := checkNext(rep); {
	case next != "":
		res.Summary += "; to mend it: " + next
	case err == nil:
		res.Summary += "; no errors found"
	}
	return res, err
}
