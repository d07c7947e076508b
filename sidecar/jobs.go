package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// Job is what every sidecar run needs: the image, the repository and how
// to reach it from inside the container, and where its output goes.
type Job struct {
	Image    string
	Repo     string   // the location as the user gave it
	Password []byte   // handed over in the sidecar's Input, never in the environment or a file
	Env      []string // settings for remote repositories (LIFEBOAT_S3_*, AWS_*, ...)
	// Files are files lifeboat can read (credentials) that the sidecar gets
	// at the given paths, sent in its Input.
	Files map[string]string
	Lines func(line []byte)
	Stdin io.Reader // the sidecar's standard input, if any
	// Killed is told when a signal ended a sidecar (see RunSpec).
	Killed func(host string)
	Stderr io.Writer
}

const (
	volumesRoot  = "/volumes"
	restoreMount = "/restore"
)

// VolumePath is where a volume is mounted inside the sidecar (and so the
// path recorded in its snapshots).
func VolumePath(name string) string { return volumesRoot + "/" + name }

// run starts the sidecar with lifeboat args plus the repository wired in,
// extra mounts, and the volumes of volumesFrom. The password and the
// credential files reach it in its Input (with plan, if any), ahead of
// j.Stdin on its standard input.
func (e *Engine) run(ctx context.Context, j Job, args []string, mounts []mount.Mount, plan *protocol.Plan, volumesFrom ...string) (int, error) {
	in := protocol.Input{Password: j.Password, Plan: plan, Files: map[string][]byte{}}
	for local, inside := range j.Files {
		b, err := os.ReadFile(local)
		if err != nil {
			return -1, fmt.Errorf("sidecar settings: %w", err)
		}
		in.Files[inside] = b
	}
	repo := j.Repo
	var repoMount *mount.Mount
	if !strings.Contains(repo, "://") {
		m, inside, err := e.localRepoMount(ctx, repo)
		if err != nil {
			return -1, err
		}
		mounts = append(mounts, m)
		repo, repoMount = inside, &m
	}
	args = append(args, protocol.RepositoryFlags(repo)...)
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if j.Lines != nil {
				j.Lines(sc.Bytes())
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	network := "none" // a local repository needs no network at all
	if strings.Contains(j.Repo, "://") {
		network = "host" // reach the store as the host does
	}
	stdin, err := withInput(in, j.Stdin)
	if err != nil {
		return -1, err
	}
	code, err := e.Run(ctx, RunSpec{Image: j.Image, Args: args, Env: j.Env, Mounts: mounts, VolumesFrom: volumesFrom,
		Network: network, Stdin: stdin, Killed: j.Killed, Stdout: w, Stderr: j.Stderr})
	w.Close()
	<-done
	if err != nil && repoMount != nil && repoMount.Type == mount.TypeBind && cerrdefs.IsInvalidArgument(err) {
		// The engine refused the mounts: the usual cause is a bind source
		// that does not exist on its host.
		err = fmt.Errorf("%w (a local repository must exist at %s on the host of engine %s: the same host, or a file system both share; or use s3:// or gs://)",
			err, repoMount.Source, e.host)
	}
	return code, err
}

// withInput puts the input line ahead of rest (which may be nil).
func withInput(in protocol.Input, rest io.Reader) (io.Reader, error) {
	var b bytes.Buffer
	if err := protocol.WriteInput(&b, in); err != nil {
		return nil, err
	}
	if rest == nil {
		return &b, nil
	}
	return io.MultiReader(&b, rest), nil
}

// VolumeMounts lists the named volumes a container mounts, with where.
func (e *Engine) VolumeMounts(ctx context.Context, ctr string) (map[string]string, error) {
	res, err := e.c.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", ctr, err)
	}
	out := map[string]string{}
	for _, m := range res.Container.Mounts {
		if m.Type == "volume" && m.Name != "" {
			out[m.Name] = m.Destination
		}
	}
	return out, nil
}

func (e *Engine) volumeInfo(ctx context.Context, v Volume) (*repository.VolumeInfo, error) {
	info := &repository.VolumeInfo{Name: v.Name, Driver: v.Driver, Labels: v.Labels, DriverOpts: v.DriverOpts}
	if res, err := e.c.Info(ctx, client.InfoOptions{}); err == nil {
		info.Engine = res.Info.Name
	}
	users, err := e.volumeUsers(ctx, v.Name, true)
	if err != nil {
		return nil, err
	}
	for _, c := range users {
		info.Containers = append(info.Containers, c.name)
	}
	return info, nil
}

// CreateVolume creates a fresh named volume as a snapshot recorded it,
// with one more label naming the snapshot it is restored from.
func (e *Engine) CreateVolume(ctx context.Context, name string, info *repository.VolumeInfo, snapshotID string) error {
	labels := map[string]string{"org.lifeboat.restored-from": snapshotID}
	opts := client.VolumeCreateOptions{Name: name, Labels: labels}
	if info != nil {
		for k, v := range info.Labels {
			labels[k] = v
		}
		opts.Driver, opts.DriverOpts = info.Driver, info.DriverOpts
	}
	if _, err := e.c.VolumeCreate(ctx, opts); err != nil {
		return fmt.Errorf("create volume %s: %w", name, err)
	}
	return nil
}

// RestoreArgs say what a restore sidecar restores where.
type RestoreArgs struct {
	Snapshot string // its id
	Volume   string
	// Overwrite makes a volume that is not empty equal to the snapshot
	// (what the snapshot lacks is removed); without it such a volume is
	// refused.
	Overwrite bool
	// Base, with Overwrite, is the id of a snapshot the volume holds (an
	// earlier restore into it): a delta restore, which writes only what
	// differs from it (restore.Options.Base).
	Base   string
	Verify bool
	// KeepDamaged writes a file whose data is partly lost in the
	// repository as NAME.lifeboat-damaged (restore.Options.KeepDamaged).
	KeepDamaged bool
	// later: the snapshot and base come on stdin (StartRestore).
	later bool
}

// line is the restore command line inside the sidecar.
func (a RestoreArgs) line() protocol.RestoreLine {
	l := protocol.RestoreLine{Snapshot: a.Snapshot, Target: restoreMount, Verify: a.Verify, KeepDamaged: a.KeepDamaged}
	switch {
	case a.later:
		l.OnInput, l.Overwrite, l.Delete = true, protocol.OverwriteIfChanged, true
	case a.Overwrite && a.Base != "":
		l.Overwrite, l.Delete, l.Base = protocol.OverwriteIfChanged, true, a.Base
	case a.Overwrite: // equal to the snapshot: nothing stale survives
		l.Overwrite, l.Delete = protocol.OverwriteAlways, true
	}
	return l
}

// RestoreVolume restores a snapshot into a named volume, mounted read-write
// in the sidecar. The volume's root gets the snapshot root's owner and
// mode.
func (e *Engine) RestoreVolume(ctx context.Context, j Job, a RestoreArgs) (Restored, error) {
	var out Restored
	relay := j.Lines
	j.Lines = func(line []byte) {
		if m, err := messages.Decode(line); err == nil {
			switch {
			case m.Type == messages.MsgSummary && !m.IsBackup:
				s := m.Restore
				out.Summary = &s
			case m.Type == messages.MsgError:
				f := m.Failure
				out.Failure = &f
			}
		}
		if relay != nil {
			relay(line)
		}
	}
	m := mount.Mount{Type: mount.TypeVolume, Source: a.Volume, Target: restoreMount}
	var err error
	out.Code, err = e.run(ctx, j, a.line().Args(), []mount.Mount{m}, nil)
	return out, err
}

// Pending is a restore started before its snapshot exists, so that its
// start and the opening of the repository are done by the time the
// snapshot is: the last round of a copy then waits only for the restore
// itself. Go tells it which snapshot to restore over which base, Cancel
// lets it go without touching its target; Wait must be called in either
// case.
type Pending interface {
	Go(o protocol.RestoreOrder) error
	Cancel()
	Wait() (Restored, error)
}

// pendingRestore is a Pending restore sidecar.
type pendingRestore struct {
	orders *io.PipeWriter
	done   chan struct{}
	res    Restored
	err    error
}

// StartRestore starts a delta restore sidecar for volume, which holds a
// copy of some snapshot (see Pending).
func (e *Engine) StartRestore(ctx context.Context, j Job, volume string, verify bool) Pending {
	r, w := io.Pipe()
	j.Stdin = r
	p := &pendingRestore{orders: w, done: make(chan struct{})}
	a := RestoreArgs{Snapshot: "-", Volume: volume, Verify: verify, later: true}
	go func() {
		defer close(p.done)
		p.res, p.err = e.RestoreVolume(ctx, j, a)
		r.CloseWithError(errors.New("the restore sidecar has exited")) // an order after that fails
	}()
	return p
}

func (p *pendingRestore) Go(o protocol.RestoreOrder) error {
	err := protocol.WriteOrder(p.orders, o)
	p.orders.Close()
	return err
}

func (p *pendingRestore) Cancel() { p.orders.Close() }

func (p *pendingRestore) Wait() (Restored, error) {
	<-p.done
	return p.res, p.err
}

// Restored is what a restore sidecar reported.
type Restored struct {
	Code    int                      // its exit code
	Summary *messages.RestoreSummary // set when it finished
	Failure *messages.Failure        // the error it ended with, if it printed one
}

// NotEmpty reports whether the restore was refused because the volume
// holds something (and no overwrite was asked for).
func (r Restored) NotEmpty() bool {
	return r.Failure != nil && r.Failure.Kind == messages.KindTargetNotEmpty
}

// VolumeExists reports whether the engine has a volume of that name.
func (e *Engine) VolumeExists(ctx context.Context, name string) (bool, error) {
	_, err := e.Volumes(ctx, Selection{Names: []string{name}})
	if err == nil {
		return true, nil
	}
	var unknown ErrUnknownVolume
	if errors.As(err, &unknown) {
		return false, nil
	}
	return false, err
}

// CreateVolumeLike creates a volume with v's name, driver, options and labels.
func (e *Engine) CreateVolumeLike(ctx context.Context, v Volume) error {
	if _, err := e.c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: v.Labels}); err != nil {
		return fmt.Errorf("create volume %s: %w", v.Name, err)
	}
	return nil
}
