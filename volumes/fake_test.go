package volumes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/wire"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
)

// fakeEngine is an engine in memory: volumes with content, containers
// using them, and a log of everything done, for the workflows' rules.
type fakeEngine struct {
	mu         sync.Mutex
	host       string
	volumes    map[string]*fakeVolume
	containers map[string]*fakeContainer
	log        []string
	images     map[string]bool

	// Faults: a batch that fails these volumes, a restore that fails, a
	// new container that never becomes healthy.
	failBackup  map[string]bool
	failRestore bool
	unhealthy   bool
	// failStart: starting a container (again) fails; failRename: renaming
	// one fails.
	failStart, failRename bool
	afterRename           func(*fakeEngine) // runs after a rename
	// warnings: each batch prints, per volume, a warning of a file that
	// changed while read and one of a file it could not read.
	warnings bool
	// onStop runs when a container is stopped, before it stops: the
	// application's last writes.
	onStop func(f *fakeEngine)
	// onPreStop runs when a container's pre-stop hook runs (f.mu held).
	onPreStop func(f *fakeEngine)
	// store holds the snapshots' content, shared by the engines of a test
	// as a repository would be.
	store map[string]map[string]string
	// envs: the environment of each sidecar job, in order.
	envs [][]string
	// failDirect: a direct copy's receiver fails; overwrites lists the
	// overwrite flag of each direct copy received.
	failDirect bool
	overwrites []bool
}

type fakeVolume struct {
	labels map[string]string
	files  map[string]string
	from   string // the snapshot it was restored from
}

type fakeContainer struct {
	id, name, image string
	running         bool
	volumes         []string
	labels          map[string]string
}

func newFake(host string, store map[string]map[string]string) *fakeEngine {
	return &fakeEngine{host: host, volumes: map[string]*fakeVolume{}, containers: map[string]*fakeContainer{}, images: map[string]bool{},
		failBackup: map[string]bool{}, store: store}
}

func (f *fakeEngine) record(format string, args ...any) {
	f.log = append(f.log, fmt.Sprintf(format, args...))
}

// did lists the log lines that start with prefix.
func (f *fakeEngine) did(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, l := range f.log {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func (f *fakeEngine) addVolume(name string, files map[string]string) {
	f.volumes[name] = &fakeVolume{labels: map[string]string{}, files: files}
}

func (f *fakeEngine) addContainer(name string, running bool, labels map[string]string, vols ...string) *fakeContainer {
	c := &fakeContainer{id: "id-" + name, name: name, image: "app:1", running: running, volumes: vols, labels: labels}
	f.containers[c.id] = c
	return c
}

func (f *fakeEngine) byName(name string) *fakeContainer {
	for _, c := range f.containers {
		if c.name == name || c.id == name {
			return c
		}
	}
	return nil
}

func (f *fakeEngine) Host() string { return f.host }

func (f *fakeEngine) EnsureImage(context.Context, string, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("image")
	return fakeImage, nil
}

// fakeImage is the sidecar image of every fake engine.
const fakeImage = "lifeboat-sidecar:test"

func (f *fakeEngine) Volumes(_ context.Context, sel sidecar.Selection) ([]sidecar.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var matched []string
	for n, v := range f.volumes {
		if sel.All || (len(sel.Labels) > 0 && matchLabels(v.labels, sel.Labels)) {
			matched = append(matched, n)
		}
	}
	sort.Strings(matched)
	names := append(slices.Clone(sel.Names), matched...)
	if sel.Container != "" {
		c := f.byName(sel.Container)
		if c == nil {
			return nil, fmt.Errorf("no such container %s", sel.Container)
		}
		names = append(names, c.volumes...)
	}
	var out []sidecar.Volume
	for _, n := range names {
		v, ok := f.volumes[n]
		if !ok {
			return nil, sidecar.ErrUnknownVolume{Name: n}
		}
		out = append(out, sidecar.Volume{Name: n, Driver: "local", Labels: v.labels})
	}
	return out, nil
}

// matchLabels reports whether labels match every selector ("key" or
// "key=value"), as the engine's label filter does.
func matchLabels(labels map[string]string, selectors []string) bool {
	for _, sel := range selectors {
		k, v, hasValue := strings.Cut(sel, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

func (f *fakeEngine) VolumeMounts(context.Context, string) (map[string]string, error) {
	return nil, nil
}

func (f *fakeEngine) PruneCandidates(context.Context, bool, []string, []string) ([]sidecar.Volume, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sidecar.Volume
	for n := range f.volumes {
		if len(f.users(n, false)) == 0 {
			out = append(out, sidecar.Volume{Name: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeEngine) users(volume string, runningOnly bool) []*fakeContainer {
	var out []*fakeContainer
	for _, c := range f.containers {
		if slices.Contains(c.volumes, volume) && (c.running || !runningOnly) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (f *fakeEngine) RunningUsersByVolume(ctx context.Context) (map[string][]sidecar.User, error) {
	out := map[string][]sidecar.User{}
	for name := range f.volumes {
		users, _ := f.RunningUsers(ctx, name)
		if len(users) > 0 {
			out[name] = users
		}
	}
	return out, nil
}

func (f *fakeEngine) RunningUsers(_ context.Context, volume string) ([]sidecar.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sidecar.User
	for _, c := range f.users(volume, true) {
		out = append(out, sidecar.User{ID: c.id, Name: c.name, Labels: c.labels})
	}
	return out, nil
}

func (f *fakeEngine) AppNetworks(context.Context, *sidecar.AppContainer) ([]sidecar.Network, error) {
	return nil, nil
}

func (f *fakeEngine) EnsureNetwork(context.Context, sidecar.Network) (bool, error) { return false, nil }

func (f *fakeEngine) VolumeExists(_ context.Context, name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.volumes[name]
	return ok, nil
}

func (f *fakeEngine) VolumeUsers(_ context.Context, volume string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.containers {
		if slices.Contains(c.volumes, volume) {
			out = append(out, c.name)
		}
	}
	return out, nil
}

func (f *fakeEngine) CreateVolume(_ context.Context, name string, info *repository.VolumeInfo, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create volume %s", name)
	f.volumes[name] = &fakeVolume{labels: info.Labels, files: map[string]string{}, from: id}
	return nil
}

func (f *fakeEngine) CreateVolumeLike(_ context.Context, v sidecar.Volume) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create volume %s", v.Name)
	f.volumes[v.Name] = &fakeVolume{labels: v.Labels, files: map[string]string{}}
	return nil
}

func (f *fakeEngine) RemoveVolume(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("remove volume %s", name)
	delete(f.volumes, name)
	return nil
}

// Quiesce stops the users labelled lifeboat.stop and warns about the
// others; StopUsers stops them all. Each returns how to start them again.
func (f *fakeEngine) Quiesce(_ context.Context, volume string, report sidecar.Report) (func(context.Context), error) {
	return f.stopUsers(volume, report, func(c *fakeContainer) bool {
		if c.labels[sidecar.LabelStop] != "true" {
			report(messages.Event{Action: sidecar.ActionInUse, Container: c.name, Warning: true, Message: "in use by " + c.name})
			return false
		}
		return true
	}), nil
}

func (f *fakeEngine) StopUsers(_ context.Context, volume string, report sidecar.Report) (func(context.Context) error, error) {
	restart := f.stopUsers(volume, report, func(*fakeContainer) bool { return true })
	return func(ctx context.Context) error {
		if f.failStart {
			return errors.New("start: engine says no")
		}
		restart(ctx)
		return nil
	}, nil
}

// stopping runs onStop, before a container stops.
func (f *fakeEngine) stopping() {
	if f.onStop != nil {
		f.onStop(f)
	}
}

func (f *fakeEngine) stopUsers(volume string, report sidecar.Report, stop func(*fakeContainer) bool) func(context.Context) {
	f.stopping()
	f.mu.Lock()
	defer f.mu.Unlock()
	var stopped []*fakeContainer
	for _, c := range f.users(volume, true) {
		if stop(c) {
			f.preStop(c)
			report(messages.Event{Action: sidecar.ActionStop, Container: c.name, Message: "stopping container " + c.name})
			c.running = false
			f.record("stop %s", c.name)
			stopped = append(stopped, c)
		}
	}
	return func(context.Context) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range stopped {
			c.running = true
			f.record("start %s", c.name)
		}
	}
}

// BackupVolumes "snapshots" each volume: its content is remembered under
// a new snapshot id, which a restore on any fake engine can find.
func (f *fakeEngine) BackupVolumes(_ context.Context, j sidecar.Job, vols []sidecar.VolumeJob, _ string, _ []string, prepare sidecar.Prepare) (sidecar.Batch, error) {
	f.mu.Lock()
	f.envs = append(f.envs, j.Env)
	f.mu.Unlock()
	var b sidecar.Batch
	for _, vj := range vols {
		name := vj.Volume.Name
		ok, done := prepare(vj.Volume)
		if !ok {
			continue
		}
		if f.warnings && j.Lines != nil {
			var b bytes.Buffer
			_ = messages.Encode(&b, messages.MsgWarning, messages.Warning{Path: "/db", Message: "changed", Kind: messages.WarnChangedWhileRead})
			_ = messages.Encode(&b, messages.MsgWarning, messages.Warning{Path: "/locked", Message: "permission denied"})
			for _, line := range bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n")) {
				j.Lines(line)
			}
		}
		f.mu.Lock()
		if f.failBackup[name] {
			b.Reports = append(b.Reports, sidecar.VolumeReport{Volume: name, Error: "disk on fire"})
			b.Code = 1
		} else {
			id := fmt.Sprintf("%064d", len(f.store)+1)
			f.store[id] = copyFiles(f.volumes[name].files)
			f.record("snapshot %s", name)
			b.Reports = append(b.Reports, sidecar.VolumeReport{Volume: name, SnapshotID: id,
				Info: repository.VolumeInfo{Name: name, Labels: f.volumes[name].labels}})
		}
		f.mu.Unlock()
		done()
		if vj.Reported != nil {
			vj.Reported(b.Reports[len(b.Reports)-1])
		}
	}
	return b, nil
}

func copyFiles(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (f *fakeEngine) RestoreVolume(_ context.Context, j sidecar.Job, a sidecar.RestoreArgs) (sidecar.Restored, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.envs = append(f.envs, j.Env)
	id, volume, overwrite := a.Snapshot, a.Volume, a.Overwrite
	v := f.volumes[volume]
	if users := f.users(volume, true); len(users) > 0 {
		// What the rule for writing into volumes prevents: the test fails.
		f.record("WROTE UNDER RUNNING %s", users[0].name)
	}
	switch {
	case f.failRestore:
		return sidecar.Restored{Code: 1, Failure: &messages.Failure{Message: "restore failed", ExitCode: 1}}, nil
	case len(v.files) > 0 && !overwrite:
		return sidecar.Restored{Code: 1, Failure: &messages.Failure{Kind: messages.KindTargetNotEmpty, ExitCode: 1}}, nil
	case a.Base != "" && a.Base != v.from:
		return sidecar.Restored{Code: 1, Failure: &messages.Failure{Message: "volume does not hold the base", ExitCode: 1}}, nil
	}
	v.files = copyFiles(f.store[id]) // equal to the snapshot, as --delete makes it
	v.from = id
	if a.Base != "" {
		f.record("restore %s (delta)", volume)
	} else {
		f.record("restore %s", volume)
	}
	n := int64(len(v.files))
	return sidecar.Restored{Summary: &messages.RestoreSummary{SnapshotID: id, Result: restore.Result{Files: n, Verified: n}}}, nil
}

func (f *fakeEngine) SaveImage(_ context.Context, ref string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.images[ref] {
		return nil, fmt.Errorf("no image %s", ref)
	}
	return io.NopCloser(strings.NewReader(ref)), nil
}

func (f *fakeEngine) LoadImages(_ context.Context, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[string(b)] = true
	f.record("load image %s", b)
	return nil
}

// fakePending restores when told to, as a sidecar started ahead would.
type fakePending struct {
	f      *fakeEngine
	job    sidecar.Job
	volume string
	res    sidecar.Restored
	err    error
	ran    bool
}

func (f *fakeEngine) StartRestore(_ context.Context, j sidecar.Job, volume string, _ bool) sidecar.Pending {
	f.mu.Lock()
	f.record("start restore %s", volume)
	f.mu.Unlock()
	return &fakePending{f: f, volume: volume, job: j}
}

func (p *fakePending) Go(o protocol.RestoreOrder) error {
	p.ran = true
	p.res, p.err = p.f.RestoreVolume(context.Background(), p.job, sidecar.RestoreArgs{Snapshot: o.Snapshot, Volume: p.volume, Overwrite: true, Base: o.Base})
	return nil
}

func (p *fakePending) Cancel() {}

func (p *fakePending) Wait() (sidecar.Restored, error) {
	if !p.ran {
		return sidecar.Restored{Code: 1, Failure: &messages.Failure{Message: "no snapshot was given", ExitCode: 1}}, nil
	}
	return p.res, p.err
}

func (f *fakeEngine) InspectApp(_ context.Context, name string) (*sidecar.AppContainer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.byName(name)
	if c == nil {
		return nil, fmt.Errorf("no such container %s", name)
	}
	a := &sidecar.AppContainer{ID: c.id, Name: c.name, Image: c.image, Running: c.running, Volumes: map[string]string{}}
	for _, v := range c.volumes {
		a.Volumes[v] = "/data/" + v
	}
	return a, nil
}

func (f *fakeEngine) ImageExists(_ context.Context, ref string) bool { return f.images[ref] }

func (f *fakeEngine) CreateLike(_ context.Context, app *sidecar.AppContainer, image string, vols, _ map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var mounted []string
	for _, old := range app.VolumeNames() {
		if vols[old] == "" {
			mounted = append(mounted, old) // as the real engine does: not renamed
		} else {
			mounted = append(mounted, vols[old])
		}
	}
	c := &fakeContainer{id: "id-new-" + app.Name, name: app.Name, image: image, volumes: mounted}
	f.containers[c.id] = c
	f.record("create container %s on %s", app.Name, image)
	return c.id, nil
}

func (f *fakeEngine) Rename(_ context.Context, id, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRename {
		return errors.New("rename: engine says no")
	}
	for _, c := range f.containers {
		if c.name == name {
			return fmt.Errorf("rename to %s: Conflict. The container name is already in use", name)
		}
	}
	f.containers[id].name = name
	f.record("rename %s", name)
	if f.afterRename != nil {
		f.afterRename(f)
	}
	return nil
}

func (f *fakeEngine) Start(_ context.Context, id string) error {
	if f.failStart {
		return errors.New("start: engine says no")
	}
	return f.setRunning(id, true)
}
func (f *fakeEngine) Stop(_ context.Context, id string, report sidecar.Report) error {
	f.mu.Lock()
	c := f.containers[id]
	if c.running {
		f.preStop(c)
	}
	f.mu.Unlock()
	report(messages.Event{Action: sidecar.ActionStop, Container: c.name, Message: "stopping container " + c.name})
	return f.setRunning(id, false)
}

// PrepareStop "runs" the pre-stop hooks of the volume's running users:
// recorded, with onPreStop run for each.
func (f *fakeEngine) PrepareStop(_ context.Context, volume string, _ sidecar.Report) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ran := 0
	for _, c := range f.users(volume, true) {
		if f.preStop(c) {
			ran++
		}
	}
	return ran, nil
}

// preStop records c's pre-stop hook, if it has one, and runs onPreStop;
// f.mu is held.
func (f *fakeEngine) preStop(c *fakeContainer) bool {
	if c.labels[sidecar.LabelPreStop] == "" {
		return false
	}
	f.record("pre-stop %s", c.name)
	if f.onPreStop != nil {
		f.onPreStop(f)
	}
	return true
}

func (f *fakeEngine) setRunning(id string, running bool) error {
	if !running {
		f.stopping()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers[id].running = running
	f.record("%s %s", map[bool]string{true: "start", false: "stop"}[running], f.containers[id].name)
	return nil
}

func (f *fakeEngine) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("remove container %s", f.containers[id].name)
	delete(f.containers, id)
	return nil
}

func (f *fakeEngine) WaitHealthy(context.Context, string, time.Duration, time.Duration) error {
	if f.unhealthy {
		return fmt.Errorf("%w: it exited with code 3", sidecar.ErrNotHealthy)
	}
	return nil
}

func (f *fakeEngine) LastLogs(context.Context, string, int) []string { return []string{"going down"} }

// fakeReporter remembers what a workflow reported.
type fakeReporter struct {
	mu     sync.Mutex
	infos  []string
	warns  []string
	events []messages.Event
}

func (r *fakeReporter) Infof(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.infos = append(r.infos, fmt.Sprintf(format, args...))
}

func (r *fakeReporter) Warn(subject string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warns = append(r.warns, subject+": "+err.Error())
}

func (r *fakeReporter) Event(ev messages.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// fakeSidecars builds the image on each engine as the CLI does.
type fakeSidecars struct{}

func (fakeSidecars) Image(ctx context.Context, e Engine) (string, error) {
	return e.EnsureImage(ctx, "lifeboat", "test")
}

func (s fakeSidecars) Job(ctx context.Context, e Engine) (sidecar.Job, error) {
	_, err := s.Image(ctx, e)
	return sidecar.Job{}, err
}

// sc is what the tests hand the workflows.
var sc fakeSidecars

var errBoom = errors.New("boom")

// SendVolume sends the volume's files as JSON; the receiver answers
// with nothing (a fake has no signatures).
func (f *fakeEngine) SendVolume(_ context.Context, image, volume string, awaitGo bool, in io.Reader, out io.Writer) error {
	if awaitGo {
		var frame [2]byte
		if _, err := io.ReadFull(in, frame[:]); err != nil {
			return fmt.Errorf("waiting for the go-ahead: %w", err)
		}
		if !bytes.Equal(frame[:], wire.GoFrame) {
			return fmt.Errorf("%q before the go-ahead", frame)
		}
	}
	f.mu.Lock()
	v, ok := f.volumes[volume]
	var files map[string]string
	if ok {
		files = maps.Clone(v.files)
		if awaitGo {
			f.record("send %s (after the go-ahead)", volume)
		} else {
			f.record("send %s", volume)
		}
	}
	f.mu.Unlock()
	if image != fakeImage {
		return fmt.Errorf("no image %s on %s", image, f.host)
	}
	if !ok {
		return fmt.Errorf("no volume %s", volume)
	}
	if err := json.NewEncoder(out).Encode(files); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, in)
	return err
}

func (f *fakeEngine) ReceiveVolume(_ context.Context, image, volume string, overwrite bool, in io.Reader, out io.Writer) error {
	var files map[string]string
	if err := json.NewDecoder(in).Decode(&files); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.overwrites = append(f.overwrites, overwrite)
	v, ok := f.volumes[volume]
	switch {
	case image != fakeImage:
		return fmt.Errorf("no image %s on %s", image, f.host)
	case !ok:
		return fmt.Errorf("no volume %s", volume)
	case f.failDirect:
		return errBoom
	case len(v.files) > 0 && !overwrite:
		return errors.New("the destination volume is not empty")
	}
	v.files = files
	f.log = append(f.log, "receive "+volume)
	return nil
}
