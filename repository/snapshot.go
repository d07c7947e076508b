package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/lifeboat-backup/lifeboat/internal/workers"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// Summary counts what one backup saw and added.
type Summary struct {
	FilesNew       int64 `json:"files_new"`
	FilesChanged   int64 `json:"files_changed"`
	FilesUnchanged int64 `json:"files_unchanged"`
	DirsNew        int64 `json:"dirs_new"`
	DirsChanged    int64 `json:"dirs_changed"`
	DirsUnchanged  int64 `json:"dirs_unchanged"`
	TotalFiles     int64 `json:"total_files"`
	TotalBytes     int64 `json:"total_bytes"`  // size of all regular files
	BytesRead      int64 `json:"bytes_read"`   // file bytes actually read
	BlobsAdded     int64 `json:"blobs_added"`  // new chunks and trees
	BytesAdded     int64 `json:"bytes_added"`  // plaintext bytes of new blobs
	StoredAdded    int64 `json:"stored_added"` // bytes of new packs written
	Errors         int64 `json:"errors"`       // entries skipped
	// ChangedWhileRead counts files that changed while they were read (a
	// database writing): saved, but perhaps not consistent.
	ChangedWhileRead int64   `json:"changed_while_read,omitempty"`
	DurationSecond   float64 `json:"duration_seconds"`
}

// Snapshot is the manifest of one backup, stored sealed as JSON at
// snapshots/<id>, where id is the hash of the stored object.
type Snapshot struct {
	Time     time.Time `json:"time"`
	Host     string    `json:"host"`
	Username string    `json:"username,omitempty"`
	UID      uint32    `json:"uid"`
	GID      uint32    `json:"gid"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags,omitempty"`
	Parent   *pack.ID  `json:"parent,omitempty"`
	Tree     pack.ID   `json:"tree"`
	// Root holds the metadata of the backed-up directory itself (owner,
	// mode, times, xattrs); its Subtree is Tree.
	Root Node `json:"root"`
	// Incomplete is set when some entries could not be read; Failures lists
	// the first of them.
	Incomplete bool     `json:"incomplete,omitempty"`
	Failures   []string `json:"failures,omitempty"`
	// Changed lists the first files that changed while they were read.
	Changed        []string `json:"changed,omitempty"`
	Summary        Summary  `json:"summary"`
	ProgramVersion string   `json:"program_version"`
	// Volume is set for a backup of a Docker named volume.
	Volume *VolumeInfo `json:"volume,omitempty"`

	ID pack.ID `json:"-"` // set when loaded or saved
}

// VolumeInfo records the Docker volume a snapshot was taken of, so that a
// restore can recreate it as it was.
type VolumeInfo struct {
	Name       string            `json:"name"`
	Driver     string            `json:"driver"`
	Labels     map[string]string `json:"labels,omitempty"`
	DriverOpts map[string]string `json:"driver_options,omitempty"`
	Engine     string            `json:"engine,omitempty"`     // the engine's name
	Containers []string          `json:"containers,omitempty"` // that used it at backup time
}

// ValidateTags checks tags a user gives a snapshot: none empty (it would
// be invisible in a listing), none with surrounding spaces or control
// characters.
func ValidateTags(tags []string) error {
	for _, t := range tags {
		switch {
		case t == "":
			return errors.New("--tag '': a tag cannot be empty")
		case strings.TrimSpace(t) != t:
			return fmt.Errorf("tag %q: a tag has no spaces around it", t)
		case strings.IndexFunc(t, unicode.IsControl) >= 0:
			return fmt.Errorf("tag %q: a tag has no control characters", t)
		}
	}
	return nil
}

// HasTags reports whether every tag in tags is on the snapshot.
func (s *Snapshot) HasTags(tags []string) bool {
	for _, t := range tags {
		if !slices.Contains(s.Tags, t) {
			return false
		}
	}
	return true
}

// HasPaths reports whether the snapshot's paths are exactly paths (in any order).
func (s *Snapshot) HasPaths(paths []string) bool {
	if len(paths) == 0 {
		return true
	}
	a, b := slices.Clone(s.Paths), slices.Clone(paths)
	for i := range b {
		b[i] = path.Clean(b[i])
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// SaveSnapshot stores a snapshot manifest. Call it only after the Writer
// that saved its blobs has finished, so that it never names a missing blob.
func (r *Repository) SaveSnapshot(ctx context.Context, s *Snapshot) (pack.ID, error) {
	id, err := r.saveJSON(ctx, KindSnapshots, s)
	if err == nil {
		s.ID = id
	}
	return id, err
}

// LoadSnapshot reads one snapshot.
func (r *Repository) LoadSnapshot(ctx context.Context, id pack.ID) (*Snapshot, error) {
	name := KindSnapshots.Name(id)
	b, err := r.loadSealed(ctx, KindSnapshots, name, &id)
	if err != nil {
		return nil, err
	}
	s, err := DecodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.ID = id
	return s, nil
}

// DecodeSnapshot parses a snapshot manifest and checks its required fields.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrDamaged, err)
	}
	if s.Tree.IsNull() {
		return nil, fmt.Errorf("%w: snapshot has no tree", ErrDamaged)
	}
	return &s, nil
}

// Snapshots loads every snapshot, oldest first. A damaged snapshot file is
// left out and reported to Options.OnDamaged; one removed between the
// listing and the read (forgotten meanwhile) is left out silently.
func (r *Repository) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	ids, err := r.SnapshotIDs(ctx)
	if err != nil {
		return nil, err
	}
	out, _, err := r.LoadSnapshots(ctx, ids)
	return out, err
}

// LoadSnapshots loads the snapshots with the given ids, several at a
// time, oldest first. A damaged one is left out, reported to
// Options.OnDamaged and counted; one removed since its id was listed
// (forgotten meanwhile) is left out silently.
func (r *Repository) LoadSnapshots(ctx context.Context, ids []pack.ID) (_ []*Snapshot, damaged int, _ error) {
	out := make([]*Snapshot, len(ids))
	var bad atomic.Int64
	err := workers.ForEach(ctx, len(ids), 8, func(ctx context.Context, i int) error {
		s, err := r.LoadSnapshot(ctx, ids[i])
		switch {
		case errors.Is(err, targets.ErrNotFound):
			return nil
		case errors.Is(err, ErrDamaged):
			bad.Add(1)
			r.opts.damaged(KindSnapshots.Name(ids[i]), err)
			return nil
		}
		out[i] = s
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	out = slices.DeleteFunc(out, func(s *Snapshot) bool { return s == nil })
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, int(bad.Load()), nil
}

// SnapshotIDs lists the ids of the stored snapshot files, damaged ones
// included (so that they can be forgotten).
func (r *Repository) SnapshotIDs(ctx context.Context) ([]pack.ID, error) {
	return r.listIDs(ctx, KindSnapshots)
}

// DeleteSnapshot removes a snapshot manifest (the data stays until prune).
func (r *Repository) DeleteSnapshot(ctx context.Context, id pack.ID) error {
	return r.target.Delete(ctx, KindSnapshots.Name(id))
}

// Filter selects snapshots; empty fields match everything.
type Filter struct {
	Host   string
	Tags   []string
	Paths  []string
	Volume string // a Docker volume's name
}

// Match reports whether s passes the filter.
func (f Filter) Match(s *Snapshot) bool {
	return (f.Host == "" || s.Host == f.Host) && s.HasTags(f.Tags) && s.HasPaths(f.Paths) &&
		(f.Volume == "" || s.Volume != nil && s.Volume.Name == f.Volume)
}

// ErrNoSnapshot: nothing matched a snapshot reference.
var ErrNoSnapshot = errors.New("no matching snapshot")

// RepairedTag marks a snapshot that repair wrote in place of a damaged
// one, its Parent.
const RepairedTag = "repaired"

// Superseded returns the ids of the snapshots in all that a repaired copy
// in all replaces (it has RepairedTag and the original as Parent).
func Superseded(all []*Snapshot) map[pack.ID]bool {
	out := map[pack.ID]bool{}
	for _, s := range all {
		if s.Parent != nil && slices.Contains(s.Tags, RepairedTag) {
			out[*s.Parent] = true
		}
	}
	return out
}

// FindSnapshot resolves "latest" (the newest snapshot matching f that no
// repaired copy supersedes) or a unique prefix of a snapshot id.
func FindSnapshot(all []*Snapshot, ref string, f Filter) (*Snapshot, error) {
	if ref == "latest" {
		var best *Snapshot
		old := Superseded(all)
		for _, s := range all {
			if f.Match(s) && !old[s.ID] && (best == nil || !s.Time.Before(best.Time)) {
				best = s
			}
		}
		if best == nil {
			return nil, fmt.Errorf("%w for latest", ErrNoSnapshot)
		}
		return best, nil
	}
	ids := make([]pack.ID, len(all))
	for i, s := range all {
		ids[i] = s.ID
	}
	id, err := ResolveSnapshotID(ids, ref)
	if err != nil {
		return nil, err
	}
	return all[slices.Index(ids, id)], nil
}

// ResolveSnapshotID finds the one snapshot id in ids that starts with ref
// (ResolveID).
func ResolveSnapshotID(ids []pack.ID, ref string) (pack.ID, error) {
	return ResolveID(ids, ref, "snapshot", ErrNoSnapshot)
}

// ResolveID finds the one id in ids that starts with ref: at least 4 hex
// digits, any case, so that a short or empty prefix never picks one of
// many (what, e.g. "key", names them in errors; notFound is wrapped when
// none matches).
func ResolveID(ids []pack.ID, ref, what string, notFound error) (pack.ID, error) {
	ref = strings.ToLower(ref)
	if len(ref) < 4 {
		return pack.ID{}, fmt.Errorf("%s id %q: give at least 4 hex digits", what, ref)
	}
	var found *pack.ID
	for i, id := range ids {
		if strings.HasPrefix(id.String(), ref) {
			if found != nil {
				return pack.ID{}, fmt.Errorf("%s id prefix %q is ambiguous: %s and %s", what, ref, found.Short(), id.Short())
			}
			found = &ids[i]
		}
	}
	if found == nil {
		return pack.ID{}, fmt.Errorf("%w with id %q", notFound, ref)
	}
	return *found, nil
}
