package volumes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// MigrateOptions select the volumes to move and how.
type MigrateOptions struct {
	Names     []string
	Container string // the volumes this container uses
	// StopSource stops the volumes' users before the copy and leaves them
	// stopped; without it they are quiesced by their labels just while
	// each volume is copied.
	StopSource bool
	// Force makes destination volumes that are not empty equal to the
	// copy; without it they are refused.
	Force bool
	Host  string
	// Direct copies without a shared repository: a sidecar on each
	// engine, the stream through this process (copyDirect).
	Direct bool
	// Live copies while the volumes' users run: rounds of incremental
	// copies (restored as deltas) while each round sends less than the
	// one before, at most MaxRounds, then the users are stopped
	// (StopSource) or quiesced by their labels for a last round that only
	// sends what changed. Through the repository only.
	Live bool
	// MaxRounds bounds the rounds before the last one: with Live, from 1
	// to MaxMaxRounds (DefaultMaxRounds is the CLI's default); else 0.
	MaxRounds int
	// Start, with Container, creates a container like it on the
	// destination (its image sent first if the destination lacks it) and
	// starts it once the copy is complete; the source container stays
	// stopped (Start implies StopSource). It must become healthy within
	// WaitHealthy, or without a health check keep running for Settle.
	Start       bool
	WaitHealthy time.Duration
	Settle      time.Duration
	Lines       func(line []byte)
	// StopUsers, if set, is how StopSource stops the volumes' users,
	// instead of stopping the containers that use each volume (a swarm
	// service is scaled to 0: its stopped task would be replaced). It is
	// called once, at the first volume's stop; its restart undoes it when
	// the migration fails.
	StopUsers func(ctx context.Context, report sidecar.Report) (restart func(context.Context) error, err error)
}

// DefaultMaxRounds bounds the rounds a live migration copies while the
// volumes are in use; MaxMaxRounds bounds what a user may ask for.
const (
	DefaultMaxRounds = 4
	MaxMaxRounds     = 20
)

// Validate refuses volume names that are not well formed and options that
// do not go together. Migrate calls it first; a caller may call it before
// it connects to the engines.
func (o MigrateOptions) Validate() error {
	if err := (sidecar.Selection{Names: o.Names}).Validate(); err != nil {
		return err
	}
	switch {
	case o.Live != (o.MaxRounds != 0) || o.MaxRounds < 0 || o.MaxRounds > MaxMaxRounds:
		return fmt.Errorf("--max-rounds needs --live and a value from 1 to %d", MaxMaxRounds)
	case o.Start && o.Container == "":
		return errors.New("--start needs --container: the container to start on the destination")
	case !o.Start && (o.WaitHealthy != 0 || o.Settle != 0):
		return errors.New("--wait-healthy and --wait go with --start")
	case o.Start && (o.WaitHealthy <= 0 || o.Settle < 0):
		return errors.New("--wait-healthy must be positive and --wait not negative")
	}
	return nil
}

// liveEnough is a round's size below which another round while the
// volumes are in use would save too little to be worth it.
const liveEnough = 16 << 20

// Migration is what Migrate did.
type Migration struct {
	Volumes []Migrated `json:"volumes"`
	// Rounds of a live migration, the last one after the stop.
	Rounds []Round `json:"rounds,omitempty"`
	// Downtime of a live migration or one with StopSource: from the
	// (first) stop or quiesce of the users to the data being complete on
	// the destination, or with Start to the container running there.
	Downtime  time.Duration `json:"-"`
	Container string        `json:"container,omitempty"` // started on the destination (Start)
	stoppedAt time.Time
}

// watch passes events on to r, and starts the downtime at the first
// container stopped or paused: after its pre-stop hook, while which it
// still runs.
func (m *Migration) watch(r Reporter) sidecar.Report {
	return func(ev messages.Event) {
		if (ev.Action == sidecar.ActionStop || ev.Action == sidecar.ActionPause) && m.stoppedAt.IsZero() {
			m.stoppedAt = time.Now()
		}
		r.Event(ev)
	}
}

// stopUsers is the Prepare of a copy after which the source stays down
// (StopSource): each volume's users are stopped, and stay stopped, before
// it is copied; the downtime starts at the first stop.
func (m *Migration) stopUsers(ctx context.Context, r Reporter, stops *sourceStops) sidecar.Prepare {
	return func(v sidecar.Volume) (bool, func()) {
		if err := stops.stop(ctx, v.Name, m.watch(r)); err != nil {
			r.Warn(v.Name, err)
			return false, nil
		}
		return true, func() {}
	}
}

// settle sets the downtime when the copy, or with Start the container on
// the destination, is complete; the first call counts.
func (m *Migration) settle() {
	if !m.stoppedAt.IsZero() && m.Downtime == 0 {
		m.Downtime = time.Since(m.stoppedAt)
	}
}

// Migrated is one volume moved.
type Migrated struct {
	Volume   string `json:"volume"`
	Snapshot string `json:"snapshot,omitempty"` // through the repository
	Files    int64  `json:"files,omitempty"`    // through the repository: what was restored
	Bytes    int64  `json:"bytes,omitempty"`
	// Match: every file the destination's restores wrote was read back
	// against the snapshot: all of them, or in a live migration, in each
	// round the files that changed (the rest were read back by the round
	// that wrote them).
	Match bool `json:"match"`
	// Sent and Returned: with Direct, the bytes that travelled to the
	// destination (entries and the blocks it lacked) and back (its
	// signatures of what it held).
	Sent     int64 `json:"bytes_sent,omitempty"`
	Returned int64 `json:"bytes_returned,omitempty"`
}

// ErrDiffer: a migrated volume does not read back as its snapshot.
var ErrDiffer = errors.New("volumes differ after the migration")

// Migrate moves volumes from src to dst under the same names, labels,
// driver and options, through the repository (both engines reach it) or
// Direct. The copy follows the same consistency rules as a backup. If
// anything fails after StopSource stopped containers, they are started
// again and the error says so.
func Migrate(ctx context.Context, src, dst Engine, sc Sidecars, r Reporter, o MigrateOptions) (m *Migration, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	vols, err := src.Volumes(ctx, sidecar.Selection{Names: o.Names, Container: o.Container})
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if len(vols) == 0 {
		return nil, errors.New("no volume to migrate")
	}
	var app *sidecar.AppContainer
	if o.Start {
		if app, err = prepareStart(ctx, src, dst, r, o); err != nil {
			return nil, err
		}
		o.StopSource = true
	}
	names := make([]string, len(vols))
	for i, v := range vols {
		names[i] = v.Name
	}
	// The rule for writing into volumes; with Start the copies are for the
	// container started there, so a user there is not started again on
	// them afterwards: it makes the migration refuse, labelled or not.
	release := func(context.Context) {}
	if o.Start {
		for _, n := range names {
			if err := refuseWriters(ctx, dst, n); err != nil {
				return nil, fmt.Errorf("destination: %w (the volumes are for %s)", err, o.Container)
			}
		}
	} else if release, err = holdWriters(ctx, dst, r, names); err != nil {
		release(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("destination: %w", err)
	}
	defer release(context.WithoutCancel(ctx))
	stops := &sourceStops{e: src, r: r, all: o.StopUsers}
	defer stops.undo(ctx, &err)
	switch {
	case o.Direct && o.Live:
		m, err = migrateLiveDirect(ctx, src, dst, sc, r, o, vols, stops)
	case o.Direct:
		m = &Migration{}
		m.Volumes, err = migrateDirect(ctx, src, dst, sc, r, o, vols, stops, m)
	default:
		var job sidecar.Job
		if job, err = sc.Job(ctx, src); err != nil {
			return nil, err
		}
		if o.Live {
			m, err = migrateLive(ctx, src, dst, sc, job, r, o, vols, stops)
		} else {
			m, err = migrateStopped(ctx, src, dst, sc, job, r, o, vols, stops)
		}
	}
	if err == nil && app != nil {
		err = startCopy(ctx, src, dst, r, o, app, m)
	}
	if m != nil {
		m.settle()
	}
	return m, err
}

// prepareStart checks, before anything is stopped, that the container can
// be created on the destination, and sends its image there if needed.
func prepareStart(ctx context.Context, src, dst Engine, r Reporter, o MigrateOptions) (*sidecar.AppContainer, error) {
	if o.Container == "" {
		return nil, errors.New("starting the container on the destination needs --container")
	}
	app, err := src.InspectApp(ctx, o.Container)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if _, err := dst.InspectApp(ctx, app.Name); err == nil {
		return nil, fmt.Errorf("a container named %s exists on %s already", app.Name, dst.Host())
	}
	nets, err := src.AppNetworks(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	for _, n := range nets {
		created, err := dst.EnsureNetwork(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("destination: %w", err)
		}
		if created {
			r.Infof("created network %s on %s like the source's", n.Name, dst.Host())
		}
	}
	found, err := sendImage(ctx, src, dst, r, app.Image)
	if err == nil && !found {
		err = fmt.Errorf("image %s of %s is on neither engine", app.Image, app.Name)
	}
	return app, err
}

// startCopy creates the container like app on the destination, on the
// migrated volumes, and starts it; one that fails to start or to become
// healthy is removed again, and the error says what each side holds.
func startCopy(ctx context.Context, src, dst Engine, r Reporter, o MigrateOptions, app *sidecar.AppContainer, m *Migration) error {
	r.Infof("starting %s on %s", app.Name, dst.Host())
	id, err := dst.CreateLike(ctx, app, app.Image, nil, map[string]string{sidecar.LabelMigratedFrom: src.Host() + " " + app.ID})
	if err == nil {
		if err = dst.Start(ctx, id); err == nil {
			m.settle() // the downtime ends when it runs
			err = dst.WaitHealthy(ctx, id, o.WaitHealthy, o.Settle)
		}
	}
	if err != nil {
		bg := context.WithoutCancel(ctx)
		if id != "" {
			for _, line := range dst.LastLogs(bg, id, 10) {
				r.Warn(app.Name+" on "+dst.Host(), errors.New(line))
			}
			if rmErr := dst.Remove(bg, id); rmErr != nil {
				return fmt.Errorf("%s did not start on %s (%w); the volumes there hold the complete copy; the container there could not be removed (%v): remove it by hand", app.Name, dst.Host(), err, rmErr)
			}
		}
		return fmt.Errorf("%s did not start on %s (%w); the volumes there hold the complete copy, the container there was removed", app.Name, dst.Host(), err)
	}
	m.Container = app.Name
	return nil
}

// migrateStopped copies each volume once, its users stopped (StopSource)
// or quiesced by their labels meanwhile.
func migrateStopped(ctx context.Context, src, dst Engine, sc Sidecars, job sidecar.Job, r Reporter, o MigrateOptions, vols []sidecar.Volume, stops *sourceStops) (*Migration, error) {
	job.Lines = o.Lines
	m := &Migration{}
	copyOne := consistent(ctx, src, r.Event, func(v sidecar.Volume, err error) { r.Warn(v.Name, err) })
	if o.StopSource {
		copyOne = m.stopUsers(ctx, r, stops)
	}
	prepare := func(v sidecar.Volume) (bool, func()) {
		r.Infof("copying volume %s from %s", v.Name, src.Host())
		return copyOne(v)
	}
	batch, err := src.BackupVolumes(ctx, job, sidecar.JobsFor(vols), o.Host, []string{"migrate"}, prepare)
	if err != nil {
		return nil, err
	}
	saved, failed := batch.Saved(vols, false)
	if len(failed) > 0 {
		return nil, fmt.Errorf("could not copy volumes %s; nothing was restored", strings.Join(failed, ", "))
	}
	dstJob, err := sc.Job(ctx, dst)
	if err != nil {
		return nil, err
	}
	dstJob.Lines = o.Lines
	var out []Migrated
	for _, v := range vols {
		rep := saved[v.Name]
		if err := ensureVolume(ctx, dst, v.Name, &rep.Info, rep.SnapshotID); err != nil {
			return &Migration{Volumes: out}, err
		}
		r.Infof("restoring volume %s on %s", v.Name, dst.Host())
		res, err := dst.RestoreVolume(ctx, dstJob, sidecar.RestoreArgs{Snapshot: rep.SnapshotID, Volume: v.Name, Overwrite: o.Force, Verify: true})
		if err := restoreFailed(res, err, v.Name); err != nil {
			return &Migration{Volumes: out}, fmt.Errorf("on the destination: %w", err)
		}
		s := res.Summary.Result
		out = append(out, Migrated{Volume: v.Name, Snapshot: rep.SnapshotID, Files: s.Files + s.Links, Bytes: s.Bytes + s.LinkBytes,
			Match: s.Verified == s.Files})
	}
	m.Volumes = out
	return m, differ(out)
}

// differ returns ErrDiffer for the first volume that did not read back as
// its snapshot.
func differ(out []Migrated) error {
	for _, m := range out {
		if !m.Match {
			return fmt.Errorf("volume %s: %w", m.Volume, ErrDiffer)
		}
	}
	return nil
}

// migrateLive copies in rounds while the users run, then stops or
// quiesces them for a last round that sends only what changed.
func migrateLive(ctx context.Context, src, dst Engine, sc Sidecars, srcJob sidecar.Job, r Reporter, o MigrateOptions, vols []sidecar.Volume, stops *sourceStops) (*Migration, error) {
	dstJob, err := sc.Job(ctx, dst)
	if err != nil {
		return nil, err
	}
	dstJob.Lines = o.Lines
	c := newCopier(src, dst, srcJob, dstJob, r, o.Host, "migrate")
	c.overwrite = o.Force
	m := &Migration{}
	for i := range o.MaxRounds {
		r.Infof("round %d: copying while the volumes are in use", i+1)
		rd, err := c.live(ctx, vols)
		if err != nil {
			return m, err
		}
		m.Rounds = append(m.Rounds, rd)
		if i > 0 && (rd.Sent >= m.Rounds[i-1].Sent || rd.Sent < liveEnough) {
			break // not shrinking, or small enough for the stop
		}
	}
	if preparedStop(ctx, src, r, vols) {
		r.Infof("round %d: copying what the pre-stop hooks wrote", len(m.Rounds)+1)
		rd, err := c.live(ctx, vols)
		if err != nil {
			return m, err
		}
		m.Rounds = append(m.Rounds, rd)
	}
	// The downtime starts when the first volume's users are stopped or
	// paused, once the sidecar is ready to copy it.
	prepare := consistent(ctx, src, m.watch(r), func(v sidecar.Volume, err error) { r.Warn(v.Name, err) })
	if o.StopSource {
		prepare = m.stopUsers(ctx, r, stops)
	}
	r.Infof("last round: the users of the volumes stopped")
	rd, err := c.round(ctx, vols, prepare)
	if err != nil {
		return m, fmt.Errorf("%w (the volumes on %s hold an earlier copy, perhaps partly updated: migrate again with --force)", err, dst.Host())
	}
	m.Rounds = append(m.Rounds, rd)
	for _, cp := range c.copies() {
		m.Volumes = append(m.Volumes, Migrated{Volume: cp.Volume, Snapshot: cp.Snapshot, Files: cp.Files, Bytes: cp.Bytes, Match: cp.Match})
	}
	return m, differ(m.Volumes)
}

// LabelDirectCopyOf marks a volume that migrate --direct created as the
// copy of a volume on another engine (copyIdentity). Migrating that volume
// there again updates the copy without --force, as long as no container
// on the destination uses it: nothing there can have written into it.
const LabelDirectCopyOf = "org.lifeboat.direct-copy-of"

func copyIdentity(src Engine, v sidecar.Volume) string { return src.Host() + " " + v.Name }

// destinationCopy reports whether the destination has a volume of v's
// name, and whether that is lifeboat's copy of v that no container there
// uses (which migrating again may update).
func destinationCopy(ctx context.Context, src, dst Engine, v sidecar.Volume) (exists, update bool, err error) {
	found, err := dst.Volumes(ctx, sidecar.Selection{Names: []string{v.Name}})
	var unknown sidecar.ErrUnknownVolume
	switch {
	case errors.As(err, &unknown):
		return false, false, nil
	case err != nil:
		return false, false, err
	case len(found) != 1 || found[0].Labels[LabelDirectCopyOf] != copyIdentity(src, v):
		return len(found) > 0, false, nil
	}
	users, err := dst.VolumeUsers(ctx, v.Name)
	return true, err == nil && len(users) == 0, err
}

// migrateDirect moves each volume with copyDirect, under the same rules;
// with StopSource the downtime starts at m's first stop.
func migrateDirect(ctx context.Context, src, dst Engine, sc Sidecars, r Reporter, o MigrateOptions, vols []sidecar.Volume, stops *sourceStops, m *Migration) ([]Migrated, error) {
	images, err := directImages(ctx, src, dst, sc)
	if err != nil {
		return nil, err
	}
	var out []Migrated
	for _, v := range vols {
		overwrite, err := directTarget(ctx, src, dst, r, v, o.Force)
		if err != nil {
			return out, err
		}
		report := r.Event // a copy that does not stop the source has no downtime
		if o.StopSource {
			report = m.watch(r)
		}
		st, err := copyStopped(ctx, src, dst, images, v, overwrite, report, o, stops)
		if err != nil {
			return out, err
		}
		r.Infof("volume %s: copied and verified, %s sent, %s of signatures back", v.Name, human.Bytes(st.sent), human.Bytes(st.returned))
		out = append(out, Migrated{Volume: v.Name, Match: true, Sent: st.sent, Returned: st.returned})
	}
	return out, nil
}

// migrateLiveDirect copies each volume with copyDirect in rounds while its
// users run, each round sending only the blocks that changed since the one
// before, then once more with them stopped or quiesced. The last round's
// sidecars start before the stop; the destination's then signs its copy
// (which nothing else writes) while the users stop, and the source reads
// only once they have.
func migrateLiveDirect(ctx context.Context, src, dst Engine, sc Sidecars, r Reporter, o MigrateOptions, vols []sidecar.Volume, stops *sourceStops) (*Migration, error) {
	images, err := directImages(ctx, src, dst, sc)
	if err != nil {
		return nil, err
	}
	m := &Migration{}
	overwrite := map[string]bool{}
	for _, v := range vols {
		if overwrite[v.Name], err = directTarget(ctx, src, dst, r, v, o.Force); err != nil {
			return m, err
		}
	}
	round := func() (Round, error) {
		start, rd := time.Now(), Round{}
		for _, v := range vols {
			st, err := copyDirect(ctx, src, dst, images, v.Name, overwrite[v.Name], nil)
			if err != nil {
				return rd, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			overwrite[v.Name] = true // it holds this copy now
			rd.Sent += st.sent
		}
		rd.Seconds = time.Since(start).Seconds()
		m.Rounds = append(m.Rounds, rd)
		return rd, nil
	}
	for i := range o.MaxRounds {
		r.Infof("round %d: streaming while the volumes are in use", i+1)
		rd, err := round()
		if err != nil {
			return m, err
		}
		if i > 0 && (rd.Sent >= m.Rounds[i-1].Sent || rd.Sent < liveEnough) {
			break // not shrinking, or small enough for the stop
		}
	}
	if preparedStop(ctx, src, r, vols) {
		r.Infof("round %d: streaming what the pre-stop hooks wrote", len(m.Rounds)+1)
		if _, err := round(); err != nil {
			return m, err
		}
	}
	r.Infof("last round: the users of the volumes stopped")
	start, rd := time.Now(), Round{}
	for _, v := range vols {
		st, err := copyStopped(ctx, src, dst, images, v, true, m.watch(r), o, stops)
		if err != nil {
			return m, fmt.Errorf("%w (the volumes on %s hold an earlier copy, perhaps partly updated: migrate again with --force)", err, dst.Host())
		}
		rd.Sent += st.sent
		m.Volumes = append(m.Volumes, Migrated{Volume: v.Name, Match: true, Sent: st.sent, Returned: st.returned})
	}
	rd.Seconds = time.Since(start).Seconds()
	m.Rounds = append(m.Rounds, rd)
	return m, nil
}

// preparedStop runs the pre-stop hooks of the volumes' running users
// before the last round copied while they run, and reports whether any
// ran: the caller then copies one more round, so that what the hooks made
// the applications write travels before the stop, which then has less to
// write and to copy.
func preparedStop(ctx context.Context, e Applications, r Reporter, vols []sidecar.Volume) bool {
	ran := 0
	for _, v := range vols {
		n, err := e.PrepareStop(ctx, v.Name, r.Event)
		if err != nil {
			r.Warn(v.Name, err)
		}
		ran += n
	}
	return ran > 0
}

// directImages is the sidecar image on each engine.
func directImages(ctx context.Context, src, dst Engine, sc Sidecars) ([2]string, error) {
	var images [2]string
	for i, e := range []Engine{src, dst} {
		var err error
		if images[i], err = sc.Image(ctx, e); err != nil {
			return images, err
		}
	}
	return images, nil
}

// directTarget makes sure the destination has a volume for v's direct
// copy: it creates one, labelled as v's copy, if there is none. It reports
// whether the copy may overwrite what the volume holds: with force, or
// when it is lifeboat's copy of v that no container there uses.
func directTarget(ctx context.Context, src, dst Engine, r Reporter, v sidecar.Volume, force bool) (bool, error) {
	exists, update, err := destinationCopy(ctx, src, dst, v)
	if err == nil && !exists {
		like := v
		like.Labels = maps.Clone(v.Labels)
		if like.Labels == nil {
			like.Labels = map[string]string{}
		}
		like.Labels[LabelDirectCopyOf] = copyIdentity(src, v)
		err = dst.CreateVolumeLike(ctx, like)
	}
	if err != nil {
		return false, fmt.Errorf("volume %s: %w", v.Name, err)
	}
	if update {
		r.Infof("volume %s on %s is lifeboat's copy of it and unused there: sending what changed", v.Name, dst.Host())
	} else {
		r.Infof("streaming volume %s from %s to %s", v.Name, src.Host(), dst.Host())
	}
	return force || update, nil
}

// copyStopped copies v with copyDirect while its users are stopped
// (StopSource) or quiesced by their labels, the events going to report.
// The sidecars start first; the users stop meanwhile, and the source reads
// once they have.
func copyStopped(ctx context.Context, src, dst Engine, images [2]string, v sidecar.Volume, overwrite bool, report sidecar.Report, o MigrateOptions, stops *sourceStops) (directStats, error) {
	gate := make(chan error, 1)
	type result struct {
		st  directStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := copyDirect(ctx, src, dst, images, v.Name, overwrite, gate)
		done <- result{st, err}
	}()
	resume := func(context.Context) {}
	var err error
	if o.StopSource {
		err = stops.stop(ctx, v.Name, report)
	} else {
		resume, err = src.Quiesce(ctx, v.Name, report)
	}
	gate <- err
	res := <-done
	resume(context.WithoutCancel(ctx))
	if err != nil {
		return res.st, fmt.Errorf("volume %s: %w", v.Name, err)
	}
	if res.err != nil {
		return res.st, fmt.Errorf("volume %s: %w (a volume that exists and is not empty needs --force)", v.Name, res.err)
	}
	return res.st, nil
}

// sourceStops remembers the containers that StopSource stopped, so that a
// migration that fails starts them again instead of leaving them down.
type sourceStops struct {
	e        Engine
	r        Reporter
	all      func(ctx context.Context, report sidecar.Report) (func(context.Context) error, error) // MigrateOptions.StopUsers
	restarts []func(context.Context) error
}

func (s *sourceStops) stop(ctx context.Context, volume string, report sidecar.Report) error {
	if s.all != nil {
		if len(s.restarts) > 0 {
			return nil // stopped with the first volume
		}
		restart, err := s.all(ctx, report)
		s.restarts = append(s.restarts, restart)
		return err
	}
	restart, err := s.e.StopUsers(ctx, volume, report)
	s.restarts = append(s.restarts, restart)
	return err
}

// undo starts the stopped containers again if *err is a failure, and says
// so in the error.
func (s *sourceStops) undo(ctx context.Context, err *error) {
	if *err == nil || len(s.restarts) == 0 {
		return
	}
	var failed []error
	for _, restart := range s.restarts {
		if e := restart(context.WithoutCancel(ctx)); e != nil {
			failed = append(failed, e)
		}
	}
	if len(failed) > 0 {
		*err = fmt.Errorf("%w; on the source, lifeboat could not undo its stop (%v): start them by hand", *err, errors.Join(failed...))
		return
	}
	*err = fmt.Errorf("%w; the containers stopped on the source were started again", *err)
}
