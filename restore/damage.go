package restore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
)

// A restore salvages what it can: a file whose data is damaged or lost in
// the repository (a chunk that fails authentication, a pack or an index
// entry that is gone) is left out, never written with wrong bytes, and a
// directory whose listing is lost is left out with everything below it.
// Everything else is restored as usual; the restore then ends with
// ErrIncomplete and Result.Damaged says what is missing. With
// Options.KeepDamaged a damaged file is written beside its name, as
// NAME.lifeboat-damaged, its lost ranges left as zeros (holes).

// ErrIncomplete: the restore wrote everything whose data is intact, but
// some files or directories could not be restored because their data is
// damaged or lost in the repository; Result.Damaged lists them.
var ErrIncomplete = errors.New("restore incomplete: some data in the repository is damaged or lost")

// DamagedSuffix ends the name of a file written with Options.KeepDamaged.
const DamagedSuffix = ".lifeboat-damaged"

// maxDamaged is how many damaged paths a Result lists by name.
const maxDamaged = 10000

// Range is the byte range [Start, End) of a file.
type Range struct {
	Start int64 `json:"start"`
	End   int64 `json:"end"`
}

// Damage is one path of the snapshot that the restore could not restore
// whole.
type Damage struct {
	Path string `json:"path"`
	// Dir: the directory's listing is lost; nothing below it is restored.
	Dir bool `json:"dir,omitempty"`
	// Size and Ranges: the file's size and its lost bytes.
	Size   int64   `json:"size,omitempty"`
	Ranges []Range `json:"ranges,omitempty"`
	Why    string  `json:"why"`
	// KeptAs is the path the file was written under with KeepDamaged.
	KeptAs string `json:"kept_as,omitempty"`
}

// addDamage records d; the caller holds r.mu (through count).
func (res *Result) addDamage(d Damage) {
	res.DamagedCount++
	if len(res.Damaged) < maxDamaged {
		res.Damaged = append(res.Damaged, d)
	}
}

// incomplete is the error a restore ends with when it left something out.
func (res *Result) incomplete() error {
	if res.DamagedCount == 0 {
		return nil
	}
	paths := "paths"
	if res.DamagedCount == 1 {
		paths = "path"
	}
	return fmt.Errorf("%d %s left out: %w", res.DamagedCount, paths, ErrIncomplete)
}

// mergeRanges sorts ranges and joins those that touch.
func mergeRanges(rs []Range) []Range {
	slices.SortFunc(rs, func(a, b Range) int { return int(a.Start - b.Start) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && r.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out
}

// lose records that the blob nd is lost for every file that needs it,
// finishing each file whose last chunk this was.
func (r *restorer) lose(ctx context.Context, nd *need, why string) error {
	n := int64(nd.entry.PlainLength())
	for _, p := range nd.places {
		if err := r.loseRange(ctx, p.job, Range{p.off, p.off + n}, why); err != nil {
			return err
		}
	}
	return nil
}

func (r *restorer) loseRange(ctx context.Context, j *fileJob, rg Range, why string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lost = append(j.lost, rg)
	if j.why == "" {
		j.why = why
	}
	return r.chunkDone(j, rg.End-rg.Start)
}

// finishDamaged ends a file that lost data: it is removed (a file being
// patched too: it holds neither the base's nor the snapshot's content), or
// with KeepDamaged renamed to its damaged name. An existing entry that a
// temporary file would have replaced stays as it was. The caller holds j.mu.
func (r *restorer) finishDamaged(j *fileJob) error {
	o, n := j.op, j.op.node
	o.damaged = true
	d := Damage{Path: "/" + o.rel(), Size: int64(n.Size), Ranges: mergeRanges(j.lost), Why: j.why}
	if j.f == nil && r.opts.KeepDamaged {
		if err := r.open(j); err != nil {
			return err
		}
	}
	if j.f != nil {
		var err error
		if r.opts.KeepDamaged {
			o.keptAs = n.Name + DamagedSuffix
			d.KeptAs = "/" + path.Join(o.dir, o.keptAs)
			err = j.f.Truncate(int64(n.Size))
			if err == nil {
				err = j.f.Close()
			}
			if err == nil {
				err = j.dir.rename(j.tmp, o.keptAs)
			}
		} else {
			j.f.Close()
			err = j.dir.remove(j.tmp)
		}
		j.release()
		j.f, j.dir = nil, nil
		if err != nil {
			return wrap(o, err)
		}
	}
	r.count(func(res *Result) { res.addDamage(d) })
	r.opts.Progress.FilesDone.Add(1)
	return nil
}

// lostTree records a directory whose listing cannot be read.
func (r *restorer) lostTree(rel string, err error) {
	r.count(func(res *Result) {
		res.addDamage(Damage{Path: "/" + rel, Dir: true, Why: fmt.Sprintf("directory listing lost, nothing below it restored: %v", err)})
	})
}

// lostLink records a hard link whose first name was left out.
func (r *restorer) lostLink(o *op) {
	o.damaged = true
	r.count(func(res *Result) {
		res.addDamage(Damage{Path: "/" + o.rel(), Size: int64(o.node.Size), Why: fmt.Sprintf("hard link to /%s, which is damaged", o.first.rel())})
	})
}
