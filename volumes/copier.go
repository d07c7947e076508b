package volumes

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
)

// copier keeps copies of volumes up to date in rounds, for the workflows
// whose downtime must grow with what changed rather than with the volumes
// (upgrade, migrate --live). Each round snapshots every volume on src and
// restores the snapshot into the volume's copy on dst: whole the first
// time, and after that as a delta over the previous round's snapshot
// (restore --base), which writes only what changed. The copy is verified
// as it is written.
type copier struct {
	src, dst       Engine
	srcJob, dstJob sidecar.Job
	r              Reporter
	host           string
	tag            string
	// name is the copy's name for a volume and its first snapshot (the
	// volume's own name if nil); a copy that does not exist is created as
	// the snapshot recorded the volume.
	name func(v sidecar.Volume, snapshotID string) string
	// overwrite lets the first round make a copy that is not empty equal
	// to the snapshot; without it such a copy is refused.
	overwrite bool

	fresh map[string]string // volume -> its copy, also for copies made before a failure
	base  map[string]string // volume -> the snapshot its copy holds
	done  map[string]*Copied
}

// Copied is how one volume reached its copy.
type Copied struct {
	Volume   string `json:"volume"`
	Copy     string `json:"copy"`
	Snapshot string `json:"snapshot"` // the last round's, which the copy equals
	// Files and Bytes are what the copy holds (hard-linked names counted).
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	// FirstBytes were written by the first round (the whole volume);
	// DeltaBytes and DeltaFiles by the last one, if there were several.
	FirstBytes int64 `json:"first_bytes"`
	DeltaBytes int64 `json:"delta_bytes"`
	DeltaFiles int64 `json:"delta_files"`
	// Match: in every round, every file written was read back and
	// matched the snapshot.
	Match bool `json:"match"`
}

// Round is one round of a copy, over all its volumes.
type Round struct {
	// Sent is what the snapshots added to the repository: the bytes that
	// travel from the source to the destination.
	Sent    int64   `json:"bytes_sent"`
	Written int64   `json:"bytes_written"` // into the copies
	Files   int64   `json:"files_written"` // written or patched
	Seconds float64 `json:"seconds"`
	// ChangedWhileRead counts the files that changed while a round copied
	// them as the volumes were in use (the last round copies them again).
	ChangedWhileRead int `json:"changed_while_read,omitempty"`
}

// asTheyRun is the Prepare of the rounds copied while the volumes are in
// use: nothing is quiesced, since what they copy need not be consistent:
// the last round, with the users stopped, makes it so.
func asTheyRun(sidecar.Volume) (bool, func()) { return true, func() {} }

// live copies a round while the volumes are in use (asTheyRun). A file
// that changes while it is read is expected then, and copied again by
// the last round with the users stopped: those warnings of the source's
// sidecar are counted in the round (ChangedWhileRead), not shown.
func (c *copier) live(ctx context.Context, vols []sidecar.Volume) (Round, error) {
	job := c.srcJob
	defer func() { c.srcJob = job }()
	changed := 0
	c.srcJob.Lines = func(line []byte) {
		if m, err := messages.Decode(line); err == nil && m.Type == messages.MsgWarning && m.Warning.Kind == messages.WarnChangedWhileRead {
			changed++
			return
		}
		if job.Lines != nil {
			job.Lines(line)
		}
	}
	rd, err := c.round(ctx, vols, asTheyRun)
	rd.ChangedWhileRead = changed
	return rd, err
}

// roundGC is the Go collector's setting in the sidecars of the rounds.
// lifeboat collects at 25% heap growth to keep its peak memory small; the
// rounds' sidecars run for seconds, the last one while the application
// is down, and collecting at 100% shortened that stop by about 0.18 s of
// 1.3 (a 1 GiB database-like file and 20,000 small files, measured here).
const roundGC = "GOGC=100"

func newCopier(src, dst Engine, srcJob, dstJob sidecar.Job, r Reporter, host, tag string) *copier {
	srcJob.Env = append(slices.Clip(srcJob.Env), roundGC)
	dstJob.Env = append(slices.Clip(dstJob.Env), roundGC)
	return &copier{src: src, dst: dst, srcJob: srcJob, dstJob: dstJob, r: r, host: host, tag: tag,
		fresh: map[string]string{}, base: map[string]string{}, done: map[string]*Copied{}}
}

// round snapshots each volume, its users prepared by prepare, and brings
// its copy to that snapshot. The restore sidecars of copies that exist are
// started with the snapshots, and each is told its snapshot as soon as the
// batch reports it, so that the last round waits for neither sidecar's
// start nor the batch's end.
func (c *copier) round(ctx context.Context, vols []sidecar.Volume, prepare sidecar.Prepare) (Round, error) {
	start := time.Now()
	jobs := sidecar.JobsFor(vols)
	pending := map[string]sidecar.Pending{}
	ordered := map[string]bool{} // written by the batch's output, read after it
	for i, v := range vols {
		name, ok := c.fresh[v.Name]
		if !ok {
			continue
		}
		p := c.dst.StartRestore(ctx, c.dstJob, name, true)
		pending[v.Name] = p
		base := c.base[v.Name]
		jobs[i].Reported = func(r sidecar.VolumeReport) {
			if r.Error == "" && r.SnapshotID != "" {
				ordered[v.Name] = true
				_ = p.Go(protocol.RestoreOrder{Snapshot: r.SnapshotID, Base: base}) // a failure shows in Wait
			}
		}
	}
	saved, err := c.snapshots(ctx, vols, jobs, prepare)
	for name, p := range pending {
		if !ordered[name] {
			p.Cancel()
		}
	}
	if err != nil {
		for _, p := range pending {
			_, _ = p.Wait()
		}
		return Round{}, err
	}
	var rd Round
	var first error
	for _, v := range vols { // every pending restore is waited for, also after a failure
		rep := saved[v.Name]
		rd.Sent += rep.Summary.StoredAdded
		written, files, err := c.restore(ctx, v, rep, pending[v.Name])
		if err != nil && first == nil {
			first = err
		}
		rd.Written += written
		rd.Files += files
	}
	rd.Seconds = time.Since(start).Seconds()
	return rd, first
}

// snapshots takes a snapshot of each volume, its users prepared by prepare.
func (c *copier) snapshots(ctx context.Context, vols []sidecar.Volume, jobs []sidecar.VolumeJob, prepare sidecar.Prepare) (map[string]sidecar.VolumeReport, error) {
	batch, err := c.src.BackupVolumes(ctx, c.srcJob, jobs, c.host, []string{c.tag}, prepare)
	if err != nil {
		return nil, err
	}
	saved, missing := batch.Saved(vols, false)
	if batch.Code != messages.ExitOK || len(missing) > 0 {
		return nil, fmt.Errorf("snapshots of the volumes failed (%s)", sidecarExit(batch.Code))
	}
	return saved, nil
}

// restore brings the copy of v to the snapshot rep (through pending, which
// has its order, if the copy exists) and returns the bytes and files it
// wrote.
func (c *copier) restore(ctx context.Context, v sidecar.Volume, rep sidecar.VolumeReport, pending sidecar.Pending) (int64, int64, error) {
	name, again := c.fresh[v.Name]
	if !again {
		name = v.Name
		if c.name != nil {
			name = c.name(v, rep.SnapshotID)
		}
		if err := refuseWriters(ctx, c.dst, name); err != nil {
			return 0, 0, err
		}
		if err := ensureVolume(ctx, c.dst, name, &rep.Info, rep.SnapshotID); err != nil {
			return 0, 0, err
		}
		c.fresh[v.Name] = name
		c.done[v.Name] = &Copied{Volume: v.Name, Copy: name, Match: true}
	}
	var res sidecar.Restored
	var err error
	if pending != nil {
		res, err = pending.Wait()
	} else {
		res, err = c.dst.RestoreVolume(ctx, c.dstJob, sidecar.RestoreArgs{Snapshot: rep.SnapshotID, Volume: name, Overwrite: c.overwrite, Verify: true})
	}
	if err := restoreFailed(res, err, name); err != nil {
		return 0, 0, fmt.Errorf("copy of %s: %w", v.Name, err)
	}
	c.base[v.Name] = rep.SnapshotID
	out, cp := res.Summary.Result, c.done[v.Name]
	cp.Snapshot, cp.Files, cp.Bytes = rep.SnapshotID, rep.Summary.TotalFiles, rep.Summary.TotalBytes
	cp.Match = cp.Match && out.Verified == out.Files // in every round
	if again {
		cp.DeltaBytes, cp.DeltaFiles = out.Written, out.Files
		c.r.Infof("volume %s: %d files changed since the last round, %s written", v.Name, out.Files, human.Bytes(out.Written))
	} else {
		cp.FirstBytes = out.Written
		c.r.Infof("volume %s copied to %s on %s", v.Name, name, c.dst.Host())
	}
	return out.Written, out.Files, nil
}

// copies lists what was copied, by volume name.
func (c *copier) copies() []Copied {
	out := make([]Copied, 0, len(c.done))
	for _, cp := range c.done {
		out = append(out, *cp)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Volume < out[k].Volume })
	return out
}
