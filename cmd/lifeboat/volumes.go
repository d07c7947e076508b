package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// volumeFlags select Docker volumes for backup.
type volumeFlags struct {
	all       bool
	labels    []string
	container string
	dangling  bool
	from      string // --volumes-from: attach this container's volumes
	info      string // hidden: the volume's metadata, set by the CLI for the sidecar
}

func (v *volumeFlags) selection(names []string) (sidecar.Selection, bool) {
	s := sidecar.Selection{Names: names, Labels: v.labels, Container: v.container, Dangling: v.dangling, All: v.all}
	if v.from != "" {
		s.Container = v.from
	}
	return s, len(names) > 0 || len(v.labels) > 0 || s.Container != "" || v.dangling || v.all
}

// credentialExists reports whether a credential file is there to be sent.
func credentialExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sidecarJob connects to the engine (DOCKER_HOST, --context, ...) and
// prepares the sidecar image and the repository settings for it.
func (a *app) sidecarJob(ctx context.Context) (*sidecar.Engine, sidecar.Job, error) {
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return nil, sidecar.Job{}, err
	}
	job, err := a.jobFor(ctx, eng)
	if err != nil {
		eng.Close()
		return nil, sidecar.Job{}, err
	}
	return eng, job, nil
}

// jobFor prepares the sidecar image on an engine and the repository
// settings shared by every run of a command.
func (a *app) jobFor(ctx context.Context, eng *sidecar.Engine) (sidecar.Job, error) {
	loc, err := a.cfg.RequireRepository()
	if err != nil {
		return sidecar.Job{}, usageError{err}
	}
	ref := a.sidecarImage
	if ref == "" {
		exe, err := os.Executable()
		if err != nil {
			return sidecar.Job{}, err
		}
		if ref, err = eng.EnsureImage(ctx, exe, a.version); err != nil {
			return sidecar.Job{}, err
		}
	}
	pw, err := a.password("enter the password for repository "+loc+": ", false)
	if err != nil {
		return sidecar.Job{}, err
	}
	home, _ := os.UserHomeDir()
	env, files := a.cfg.SidecarSettings(a.environ(), a.getenv, home, credentialExists)
	return sidecar.Job{Image: ref, Repo: loc, Password: pw, Env: env, Files: files, Stderr: a.stderr,
		Exited: func(host string, code int) { a.releaseSidecarLocks(ctx, host, code) }}, nil
}

// releaseSidecarLocks removes the locks of a sidecar that died without
// releasing them (killed: exit code 128+signal), so that they do not block
// a prune until they turn stale. The container is gone, so they are dead.
func (a *app) releaseSidecarLocks(ctx context.Context, host string, code int) {
	if code < 128 {
		return // lifeboat exited by itself and released its locks
	}
	repo, done, err := a.openRepository(context.WithoutCancel(ctx), withoutLock, false)
	if err != nil {
		return
	}
	defer done()
	if n, err := repo.RemoveLocksOf(context.WithoutCancel(ctx), host); err == nil && n > 0 {
		a.out.infof("removed %d locks of the stopped sidecar", n)
	}
}

// sidecarLines relays the sidecar's JSON lines: as they are with --json,
// else as text; it remembers the last summary and error.
type sidecarLines struct {
	a       *app
	summary map[string]any
	errMsg  string

	mu     sync.Mutex
	status progressStatus
}

// progress is the latest status the sidecar reported, for the display.
func (s *sidecarLines) progress() progressStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *sidecarLines) line(b []byte) {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return
	}
	switch m["type"] {
	case "summary":
		s.summary = m
	case "error":
		s.errMsg, _ = m["message"].(string)
	case "warning":
		if !s.a.out.json {
			p, _ := m["path"].(string)
			msg, _ := m["message"].(string)
			s.a.out.warn(p, fmt.Errorf("%s", msg))
			return
		}
	case "status":
		if !s.a.out.json {
			var st progressStatus
			if json.Unmarshal(b, &st) == nil {
				_, st.TotalKnown = m["total_bytes"]
				s.mu.Lock()
				s.status = st
				s.mu.Unlock()
			}
			return
		}
	}
	if s.a.out.json {
		s.a.out.mu.Lock()
		fmt.Fprintf(s.a.out.stdout, "%s\n", b)
		s.a.out.mu.Unlock()
	}
}

func (a *app) runVolumeBackup(ctx context.Context, o backupOptions, sel sidecar.Selection) error {
	_, err := a.backupVolumes(ctx, o, sel)
	return err
}

// backupVolumes backs the selected volumes up and sums their summaries.
func (a *app) backupVolumes(ctx context.Context, o backupOptions, sel sidecar.Selection) (repository.Summary, error) {
	var total repository.Summary
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return total, err
	}
	defer eng.Close()
	// The volumes first: a name that does not exist is reported before the
	// sidecar image is built and loaded.
	vols, err := eng.Volumes(ctx, sel)
	if err != nil {
		return total, err
	}
	if len(vols) == 0 {
		return total, fmt.Errorf("no volume matches the selection on %s", eng.Host())
	}
	job, err := a.jobFor(ctx, eng)
	if err != nil {
		return total, err
	}
	var from map[string]string // volume -> mount path in the --volumes-from container
	if o.volumes.from != "" {
		if from, err = eng.VolumeMounts(ctx, o.volumes.from); err != nil {
			return total, err
		}
	}
	jobs := make([]sidecar.VolumeJob, len(vols))
	for i, v := range vols {
		jobs[i] = sidecar.VolumeJob{Volume: v}
		if dest, ok := from[v.Name]; ok {
			jobs[i].From, jobs[i].Path = o.volumes.from, dest
		}
	}
	var failed []string
	lines := &sidecarLines{a: a}
	job.Lines = lines.line
	// Each volume's users are stopped, paused or hooked just while that
	// volume is copied; they run again afterwards whatever happens.
	consistent := eng.Consistent(ctx, a.report, func(v sidecar.Volume, err error) {
		a.out.warn(v.Name, err)
		failed = append(failed, v.Name+" (not backed up)")
	})
	prepare := func(v sidecar.Volume) (bool, func()) {
		a.out.infof("backing up volume %s", v.Name)
		return consistent(v)
	}
	stop := a.startProgress("backup", lines.progress)
	code, reports, err := eng.BackupVolumes(ctx, job, jobs, hostOr(a.cfg.Host), o.tags, prepare)
	stop()
	if err != nil {
		return total, err
	}
	incomplete := 0
	reported := map[string]bool{}
	for _, r := range reports {
		reported[r.Volume] = true
		if r.Error != "" {
			a.out.warn(r.Volume, errors.New(r.Error))
			failed = append(failed, r.Volume)
			continue
		}
		total.BytesRead += r.Summary.BytesRead
		total.BytesAdded += r.Summary.BytesAdded
		total.TotalFiles += r.Summary.TotalFiles
		total.Errors += r.Summary.Errors
		sum := r.Summary
		changed := ""
		if sum.ChangedWhileRead > 0 {
			changed = fmt.Sprintf("; %s changed while read", plural(int(sum.ChangedWhileRead), "file", "files"))
		}
		a.out.infof("volume %s: snapshot %s saved: %s, read %s of %s, added %s (%s stored) in %s%s", r.Volume, shortID(r.SnapshotID),
			plural(int(sum.TotalFiles), "file", "files"), formatBytes(sum.BytesRead), formatBytes(sum.TotalBytes),
			formatBytes(sum.BytesAdded), formatBytes(sum.StoredAdded),
			time.Duration(sum.DurationSecond*float64(time.Second)).Round(10*time.Millisecond), changed)
		if r.Incomplete {
			failed = append(failed, r.Volume+" (incomplete)")
			incomplete++
		}
	}
	if code != exitOK && code != exitIncomplete && len(failed) == 0 {
		msg := lines.errMsg
		if msg == "" {
			msg = fmt.Sprintf("sidecar exited with code %d", code)
		}
		var unfinished []string
		for _, v := range vols {
			if !reported[v.Name] {
				unfinished = append(unfinished, v.Name)
			}
		}
		what := "backup of volumes " + strings.Join(unfinished, ", ")
		if code == exitLocked { // keep the meaning, so that callers can wait and retry
			return total, fmt.Errorf("%s: %s: %w", what, msg, repository.ErrLocked)
		}
		return total, fmt.Errorf("%s: %s", what, msg)
	}
	switch {
	case len(failed) > 0 && incomplete == len(failed):
		return total, fmt.Errorf("volumes saved with entries left out: %s: %w", strings.Join(failed, ", "), errIncomplete)
	case len(failed) > 0:
		return total, fmt.Errorf("volumes not backed up completely: %s", strings.Join(failed, ", "))
	}
	return total, nil
}

// report prints what consistency handling does: warnings as warnings, the
// rest as information.
// report prints what the consistency handling did: with --json a typed
// "event" line with its time, else a line of text (warnings on stderr).
func (a *app) report(ev sidecar.Event) {
	switch {
	case a.out.json:
		a.out.emit("event", ev)
	case ev.Warning:
		a.out.warn(ev.Volume, errors.New(ev.Message))
	default:
		a.out.infof("%s %s", ev.Time.Format("15:04:05"), ev.Message)
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func (a *app) runVolumeRestore(ctx context.Context, o restoreOptions, ref string) error {
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	sn, err := findSnapshot(ctx, repo, ref, o.f.filter())
	done()
	if err != nil {
		return err
	}
	eng, job, err := a.sidecarJob(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	exists, err := eng.VolumeExists(ctx, o.toVolume)
	if err != nil {
		return err
	}
	if !exists {
		if err := eng.CreateVolume(ctx, o.toVolume, sn.Volume, sn.ID.String()); err != nil {
			return err
		}
	}
	lines := &sidecarLines{a: a}
	job.Lines = lines.line
	a.out.infof("restoring snapshot %s into volume %s", sn.ID.Short(), o.toVolume)
	stop := a.startProgress("restore "+o.toVolume, lines.progress)
	code, err := eng.RestoreVolume(ctx, job, sn.ID.String(), o.toVolume, o.force, false)
	stop()
	if err != nil {
		return err
	}
	if code != exitOK {
		msg := lines.errMsg
		if strings.Contains(msg, "not empty") {
			msg = fmt.Sprintf("volume %s exists and is not empty (use --force to overwrite it)", o.toVolume)
		}
		if msg == "" {
			msg = fmt.Sprintf("sidecar exited with code %d", code)
		}
		return fmt.Errorf("%s", msg)
	}
	a.out.infof("volume %s restored from snapshot %s", o.toVolume, sn.ID.Short())
	return nil
}

// volumeInfoFlag decodes the hidden --volume-info flag.
func volumeInfoFlag(s string) (*repository.VolumeInfo, error) {
	if s == "" {
		return nil, nil
	}
	var v repository.VolumeInfo
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("--volume-info: %w", err)
	}
	return &v, nil
}

// savedSnapshots maps each volume that a batch saved to its snapshot id
// (only complete snapshots when complete is set) and lists the others.
func savedSnapshots(vols []sidecar.Volume, reports []sidecar.VolumeReport, complete bool) (map[string]string, []string) {
	saved := map[string]string{}
	for _, r := range reports {
		if r.Error == "" && r.SnapshotID != "" && !(complete && r.Incomplete) {
			saved[r.Volume] = r.SnapshotID
		}
	}
	var missing []string
	for _, v := range vols {
		if _, ok := saved[v.Name]; !ok {
			missing = append(missing, v.Name)
		}
	}
	return saved, missing
}
