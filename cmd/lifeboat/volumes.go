package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/volumes"
)

// volumeFlags select Docker volumes for backup.
type volumeFlags struct {
	all       bool
	labels    []string
	container string
	dangling  bool
	from      string // --volumes-from: attach this container's volumes
}

func (v *volumeFlags) selection(names []string) (volumes.Selection, bool) {
	s := volumes.Selection{Names: names, Labels: v.labels, Container: v.container, Dangling: v.dangling, All: v.all}
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

// sidecars is how the workflows run sidecars for a command: the image
// from --sidecar-image or built from this executable, and the repository
// settings shared by every run of the command.
func (a *app) sidecars() volumes.SidecarConfig {
	return volumes.SidecarConfig{ImageRef: a.sidecarImage, Version: a.version, Stderr: a.stderr, Killed: a.releaseSidecarLocks,
		Repository: func(context.Context) (volumes.RepositoryAccess, error) {
			loc, err := a.cfg.RequireRepository()
			if err != nil {
				return volumes.RepositoryAccess{}, usageError{err}
			}
			pw, err := a.password("enter the password for repository "+loc+": ", false)
			if err != nil {
				return volumes.RepositoryAccess{}, err
			}
			home, _ := os.UserHomeDir()
			env, files := a.cfg.SidecarSettings(a.environ(), a.getenv, home, credentialExists)
			return volumes.RepositoryAccess{Location: loc, Password: pw, Env: env, Files: files}, nil
		}}
}

// releaseSidecarLocks removes the locks of a sidecar that a signal ended
// before it could release them, so that they do not block a prune until
// they turn stale. The container is gone, so they are dead.
func (a *app) releaseSidecarLocks(ctx context.Context, host string) {
	repo, done, err := a.openRepository(context.WithoutCancel(ctx), withoutLock, false)
	if err != nil {
		return
	}
	defer done()
	if n, err := repo.RemoveLocksOf(context.WithoutCancel(ctx), host); err == nil && n > 0 {
		a.out.infof("removed %d locks of the stopped sidecar", n)
	}
}

// reporter prints what a workflow does (a volumes.Reporter).
type reporter struct{ a *app }

func (r reporter) Infof(format string, args ...any) { r.a.out.infof(format, args...) }
func (r reporter) Warn(subject string, err error)   { r.a.out.warn(subject, err) }

// Event prints what the consistency handling did: with --json a typed
// "event" line with its time, else a line of text (warnings on stderr).
func (r reporter) Event(ev messages.Event) {
	switch {
	case r.a.out.json:
		r.a.out.emit(messages.MsgEvent, ev)
	case ev.Warning:
		r.a.out.warn(ev.Volume, errors.New(ev.Message))
	default:
		r.a.out.infof("%s %s", ev.Time.Format("15:04:05"), ev.Message)
	}
}

// sidecarLines shows a sidecar's output: its lines as they are with
// --json; else its warnings as warnings and its progress in the display.
type sidecarLines struct {
	a      *app
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
	if s.a.out.json {
		s.a.out.relay(b)
		return
	}
	m, err := messages.Decode(b)
	if err != nil {
		return
	}
	switch m.Type {
	case messages.MsgWarning:
		s.a.out.warn(m.Warning.Path, errors.New(m.Warning.Message))
	case messages.MsgStatus:
		st := progressStatus{FilesDone: m.Status.FilesDone, BytesDone: m.Status.BytesDone, Errors: m.Status.Errors}
		if m.Status.TotalBytes != nil && m.Status.TotalFiles != nil {
			st.TotalFiles, st.TotalBytes, st.TotalKnown = *m.Status.TotalFiles, *m.Status.TotalBytes, true
		}
		s.mu.Lock()
		s.status = st
		s.mu.Unlock()
	}
}

// backupVolumes backs the selected volumes up (volumes.Backup) with a
// progress display.
func (a *app) backupVolumes(ctx context.Context, o backupOptions, sel volumes.Selection) (repository.Summary, error) {
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return repository.Summary{}, err
	}
	defer eng.Close()
	lines := &sidecarLines{a: a}
	stop := a.startProgress("backup", lines.progress)
	res, err := volumes.Backup(ctx, eng, a.sidecars(), reporter{a}, volumes.BackupOptions{
		Selection: sel, VolumesFrom: o.volumes.from, Host: a.snapshotHost(ctx), Tags: o.tags, Lines: lines.line})
	stop()
	return res.Total, err
}

func (a *app) runVolumeRestore(ctx context.Context, o restoreOptions, ref string) error {
	if o.base != "" && !o.force {
		return usageError{fmt.Errorf("--base with --to-volume needs --force: a delta restore changes a volume that holds data")}
	}
	ro := volumes.RestoreOptions{Volume: o.toVolume, Force: o.force, Verify: o.verify, KeepDamaged: o.keepDamaged}
	if err := ro.Validate(); err != nil {
		return usageError{err}
	}
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	sn, err := findSnapshot(ctx, repo, ref, o.f.filter())
	var base *repository.Snapshot
	if err == nil {
		base, err = findBase(ctx, repo, o.base)
	}
	done()
	if err != nil {
		return err
	}
	eng, err := a.engineFor(ctx, "", a.dockerContext)
	if err != nil {
		return err
	}
	defer eng.Close()
	lines := &sidecarLines{a: a}
	stop := a.startProgress("restore "+o.toVolume, lines.progress)
	ro.Snapshot, ro.Base, ro.Lines = sn, base, lines.line
	sum, err := volumes.Restore(ctx, eng, a.sidecars(), reporter{a}, ro)
	stop()
	if errors.Is(err, restore.ErrIncomplete) && sum != nil && !a.out.json { // with --json the sidecar's summary was relayed
		a.out.result(messages.MsgSummary, sum, func(w io.Writer) { printDamage(w, &sum.Result) })
	}
	return restoreIncomplete(err)
}
