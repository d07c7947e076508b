package sidecar

import (
	"context"
	"io"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/moby/moby/api/types/mount"
)

// VolumeJob selects how a volume reaches the sidecar.
type VolumeJob struct {
	Volume Volume
	From   string // attach with VolumesFrom from this container ("" mounts by name)
	Path   string // the path in that container, with From
	// Reported, if set, is told the volume's report as soon as the
	// sidecar gives it, while the batch goes on.
	Reported func(r VolumeReport)
}

// VolumeReport is what the sidecar reported about one volume of a batch.
type VolumeReport struct {
	Volume     string
	Info       repository.VolumeInfo // what its snapshot records (from the plan)
	SnapshotID string                // set when a snapshot was saved
	Incomplete bool                  // saved, but some entries could not be read
	Summary    repository.Summary
	Error      string // set when the volume failed
}

// Batch is what a batch sidecar reported.
type Batch struct {
	Code    int               // its exit code
	Reports []VolumeReport    // one per volume that got one, in order
	Failure *messages.Failure // the error it ended with, if it printed one
}

// Saved maps each volume that the batch saved to its report (only complete
// snapshots when complete is set), and lists the volumes of vols that it
// did not save.
func (b Batch) Saved(vols []Volume, complete bool) (map[string]VolumeReport, []string) {
	saved := map[string]VolumeReport{}
	for _, r := range b.Reports {
		if r.Error == "" && r.SnapshotID != "" && !(complete && r.Incomplete) {
			saved[r.Volume] = r
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

// JobsFor mounts each volume by name.
func JobsFor(vols []Volume) []VolumeJob {
	jobs := make([]VolumeJob, len(vols))
	for i, v := range vols {
		jobs[i] = VolumeJob{Volume: v}
	}
	return jobs
}

// Prepare is called before each volume is copied; it returns whether to
// copy it and a function to call once the copy is over (whatever its
// outcome).
type Prepare func(v Volume) (proceed bool, done func())

// BackupVolumes backs up every volume with one sidecar, which mounts each
// read-only at its own path (or attaches a container's volumes), opens the
// repository once and makes one snapshot per volume. It returns the
// sidecar's exit code and a report for each volume that got one, in order.
func (e *Engine) BackupVolumes(ctx context.Context, j Job, vols []VolumeJob, host string, tags []string, prepare Prepare) (Batch, error) {
	plan := protocol.Plan{Host: host, Tags: tags}
	var mounts []mount.Mount
	var from []string
	for _, vj := range vols {
		info, err := e.volumeInfo(ctx, vj.Volume)
		if err != nil {
			return Batch{Code: -1}, err
		}
		pv := protocol.PlanVolume{Path: VolumePath(vj.Volume.Name), Info: *info}
		if vj.From != "" {
			pv.Path = vj.Path
			if !contains(from, vj.From+":ro") {
				from = append(from, vj.From+":ro")
			}
		} else {
			mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: vj.Volume.Name, Target: pv.Path, ReadOnly: true})
		}
		plan.Volumes = append(plan.Volumes, pv)
	}

	var out Batch
	byName := map[string]VolumeJob{}
	for _, vj := range vols {
		byName[vj.Volume.Name] = vj
	}
	report := func(r VolumeReport) {
		out.Reports = append(out.Reports, r)
		if vj := byName[r.Volume]; vj.Reported != nil {
			vj.Reported(r)
		}
	}
	stdin, answer := io.Pipe()
	defer answer.Close()
	var pending func()
	finish := func() {
		if pending != nil {
			pending()
			pending = nil
		}
	}
	defer finish() // whatever happens, containers are resumed
	info := map[string]repository.VolumeInfo{}
	for _, pv := range plan.Volumes {
		info[pv.Info.Name] = pv.Info
	}
	current := ""
	relay := j.Lines
	j.Lines = func(line []byte) {
		m, err := messages.Decode(line)
		if err != nil {
			return // not a message: nothing to act on or relay
		}
		switch m.Type {
		case messages.MsgVolumeReady:
			finish()
			current = m.Ready.Volume
			go1 := false
			if vj, ok := byName[current]; ok {
				go1, pending = prepare(vj.Volume)
			}
			if err := protocol.WriteAnswer(answer, go1); err != nil {
				return
			}
		case messages.MsgSummary:
			finish()
			report(VolumeReport{Volume: current, Info: info[current], SnapshotID: m.Backup.SnapshotID,
				Incomplete: m.Backup.Incomplete, Summary: m.Backup.Summary})
		case messages.MsgVolumeError:
			finish()
			report(VolumeReport{Volume: m.Failed.Volume, Info: info[m.Failed.Volume], Error: m.Failed.Message})
		case messages.MsgError:
			f := m.Failure
			out.Failure = &f
		}
		if relay != nil {
			relay(line)
		}
	}
	j.Stdin = stdin
	var err error
	out.Code, err = e.run(ctx, j, protocol.Batch(), mounts, &plan, from...)
	return out, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
