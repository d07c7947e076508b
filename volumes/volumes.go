// Package volumes holds lifeboat's Docker workflows, each written once:
// back volumes up (Backup), restore a snapshot into a volume (Restore),
// prune volumes behind safety snapshots (Prune), move volumes to another
// engine (Migrate), and run a container on copies of its volumes with a way
// back (Upgrade, Rollback). They drive an Engine, the small set of what they
// need from Docker (sidecar.Engine is the real one), and tell the user what
// they do through a Reporter; the CLI and the daemon call them and print.
// A safety rule fixed here is fixed for every caller.
package volumes

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
)

// Engine is what the workflows need from a Docker engine
// (sidecar.Engine is the real one): its volumes, the applications that use
// them, and sidecars. Each part is an interface of its own, and a helper
// that needs one part takes only that.
type Engine interface {
	VolumeStore
	Applications
	Sidecar
}

// VolumeStore is an engine's named volumes.
type VolumeStore interface {
	Host() string
	Volumes(ctx context.Context, sel sidecar.Selection) ([]sidecar.Volume, error)
	VolumeMounts(ctx context.Context, container string) (map[string]string, error)
	PruneCandidates(ctx context.Context, all bool, labels, notLabels []string) ([]sidecar.Volume, error)
	VolumeExists(ctx context.Context, name string) (bool, error)
	CreateVolume(ctx context.Context, name string, info *repository.VolumeInfo, snapshotID string) error
	CreateVolumeLike(ctx context.Context, v sidecar.Volume) error
	RemoveVolume(ctx context.Context, name string) error
}

// Applications is an engine's containers, as the users of volumes.
type Applications interface {
	// VolumeUsers names the containers, running or not, that use a volume.
	VolumeUsers(ctx context.Context, volume string) ([]string, error)
	// RunningUsers lists the running containers that use a volume.
	RunningUsers(ctx context.Context, volume string) ([]sidecar.User, error)
	// Quiesce and StopUsers never count a sidecar as a user; each returns
	// how to undo what it did, also when it fails part way.
	Quiesce(ctx context.Context, volume string, report sidecar.Report) (resume func(context.Context), err error)
	StopUsers(ctx context.Context, volume string, report sidecar.Report) (restart func(context.Context) error, err error)
	// PrepareStop runs the pre-stop hooks (sidecar.LabelPreStop) of a
	// volume's running users and reports how many ran. Quiesce, StopUsers
	// and Stop run a container's hook before they stop it too.
	PrepareStop(ctx context.Context, volume string, report sidecar.Report) (int, error)

	InspectApp(ctx context.Context, name string) (*sidecar.AppContainer, error)
	// AppNetworks lists the user-defined networks a container is on;
	// EnsureNetwork creates one like it unless the engine has it.
	AppNetworks(ctx context.Context, app *sidecar.AppContainer) ([]sidecar.Network, error)
	EnsureNetwork(ctx context.Context, n sidecar.Network) (created bool, err error)
	ImageExists(ctx context.Context, ref string) bool
	CreateLike(ctx context.Context, app *sidecar.AppContainer, image string, volumes, labels map[string]string) (string, error)
	// SaveImage streams an image as docker save does; LoadImages loads
	// such a stream.
	SaveImage(ctx context.Context, ref string) (io.ReadCloser, error)
	LoadImages(ctx context.Context, r io.Reader) error
	Rename(ctx context.Context, id, name string) error
	Start(ctx context.Context, id string) error
	Stop(ctx context.Context, id string, report sidecar.Report) error
	Remove(ctx context.Context, id string) error
	WaitHealthy(ctx context.Context, id string, timeout, settle time.Duration) error
	LastLogs(ctx context.Context, id string, n int) []string
}

// Sidecar is how an engine runs lifeboat's sidecars.
type Sidecar interface {
	// EnsureImage builds and loads the sidecar image from lifeboat's
	// executable unless the engine has it, and returns its reference.
	EnsureImage(ctx context.Context, exe, version string) (string, error)
	BackupVolumes(ctx context.Context, j sidecar.Job, vols []sidecar.VolumeJob, host string, tags []string, prepare sidecar.Prepare) (sidecar.Batch, error)
	RestoreVolume(ctx context.Context, j sidecar.Job, a sidecar.RestoreArgs) (sidecar.Restored, error)
	// StartRestore starts a delta restore into volume ahead of its
	// snapshot (sidecar.Pending).
	StartRestore(ctx context.Context, j sidecar.Job, volume string, verify bool) sidecar.Pending
	// SendVolume and ReceiveVolume are the halves of a direct copy, run
	// on two engines and joined by copyDirect. With awaitGo the sender
	// reads nothing of the volume before a wire.Go frame on in.
	SendVolume(ctx context.Context, image, volume string, awaitGo bool, in io.Reader, out io.Writer) error
	ReceiveVolume(ctx context.Context, image, volume string, overwrite bool, in io.Reader, out io.Writer) error
}

var _ Engine = (*sidecar.Engine)(nil)

// Reporter receives what a workflow does, for the user.
type Reporter interface {
	// Infof says what the workflow is doing ("copying volume pgdata").
	Infof(format string, args ...any)
	// Warn reports a problem that does not stop the workflow.
	Warn(subject string, err error)
	// Event reports what the consistency handling did.
	Event(ev messages.Event)
}

// Sidecars prepares the sidecar runs on an engine. The workflows call it
// only once their input is known to be good, so that bad input never
// builds an image.
type Sidecars interface {
	// Image is the sidecar image on e, built and loaded from lifeboat's
	// executable unless e has it (Engine.EnsureImage).
	Image(ctx context.Context, e Engine) (string, error)
	// Job is what a run on the repository needs besides: the image, the
	// repository, its password and settings.
	Job(ctx context.Context, e Engine) (sidecar.Job, error)
}

// consistent is the Prepare of every copy of volumes: each volume's running
// users are quiesced as their labels ask just while it is copied, and
// resumed afterwards whatever happens; a volume whose users could not be
// quiesced (a pre hook failed) is not copied, and skipped is told why.
func consistent(ctx context.Context, e Applications, report sidecar.Report, skipped func(v sidecar.Volume, err error)) sidecar.Prepare {
	return func(v sidecar.Volume) (bool, func()) {
		resume, err := e.Quiesce(ctx, v.Name, report)
		done := func() { resume(context.WithoutCancel(ctx)) }
		if err != nil {
			done()
			skipped(v, err)
			return false, nil
		}
		return true, done
	}
}

// sidecarExit says how a sidecar that printed no error ended: killed by a
// signal (exit codes from 128 up, as the engine reports them) or exited.
func sidecarExit(code int) string {
	if sig, ok := sidecar.KilledBy(code); ok {
		return fmt.Sprintf("the sidecar was killed (signal %d)", sig)
	}
	return fmt.Sprintf("sidecar exited with code %d", code)
}

// shortID is the 8-digit form of a snapshot id.
func shortID(id string) string { return id[:min(8, len(id))] }
