package repository

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// A Mark lists packs that a prune found unneeded and took out of the index,
// to be deleted by a later prune once nothing alive can rely on them
// (docs/design.md, "Prune beside running backups"). Marks are immutable
// and content-addressed like index files: completing one writes a new mark
// and deletes the old.
type Mark struct {
	Created time.Time `json:"created"`
	// Completed is set once Locks holds the locks listed after the last
	// index files naming the packs were deleted. Only a complete mark may
	// be swept.
	Completed *time.Time   `json:"completed,omitempty"`
	Locks     []MarkedLock `json:"locks,omitempty"`
	// Packs are the marked packs with their blobs, so that a reader can
	// still find a blob that a snapshot published during the prune needs.
	Packs []index.PackBlobs `json:"-"`

	ID pack.ID `json:"-"`
}

// MarkedLock is a lock that was held when a mark was completed.
type MarkedLock struct {
	Name string    `json:"name"`
	Host string    `json:"host"`
	PID  int       `json:"pid"`
	Time time.Time `json:"time"`
}

// Mark plaintext, before zstd compression and sealing with additional data
// "lifeboat marks": "LBM1" | uvarint n | n bytes of JSON (the Mark's
// fields) | an index file's plaintext naming the packs with their blobs.
const markMagic = "LBM1"

func (m *Mark) encode() ([]byte, error) {
	head, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	b := append([]byte(markMagic), binary.AppendUvarint(nil, uint64(len(head)))...)
	b = append(b, head...)
	return append(b, (&index.File{Packs: m.Packs}).Encode()...), nil
}

func decodeMark(b []byte) (*Mark, error) {
	if len(b) < len(markMagic) || string(b[:len(markMagic)]) != markMagic {
		return nil, errors.New("bad magic")
	}
	b = b[len(markMagic):]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, errors.New("bad header length")
	}
	var m Mark
	if err := json.Unmarshal(b[k:k+int(n)], &m); err != nil {
		return nil, err
	}
	f, err := index.Decode(b[k+int(n):])
	if err != nil {
		return nil, err
	}
	m.Packs = f.Packs
	return &m, nil
}

// SaveMark stores a mark and sets its ID.
func (r *Repository) SaveMark(ctx context.Context, m *Mark) error {
	plain, err := m.encode()
	if err != nil {
		return err
	}
	id, err := r.saveSealed(ctx, KindMarks, r.meta.EncodeAll(plain, nil))
	if err != nil {
		return err
	}
	m.ID = id
	return nil
}

// Marks reads every mark. A damaged one is reported to Options.OnDamaged
// and left out: its packs then look unmarked, and the next prune marks
// them again. One removed between the listing and the read was swept.
func (r *Repository) Marks(ctx context.Context) ([]*Mark, error) {
	ids, err := r.listIDs(ctx, KindMarks)
	if err != nil {
		return nil, err
	}
	var out []*Mark
	for _, id := range ids {
		m, err := r.loadMark(ctx, id)
		switch {
		case errors.Is(err, targets.ErrNotFound):
			continue
		case errors.Is(err, ErrDamaged):
			r.opts.damaged(KindMarks.Name(id), err)
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (r *Repository) loadMark(ctx context.Context, id pack.ID) (*Mark, error) {
	name := KindMarks.Name(id)
	sealed, err := r.loadSealed(ctx, KindMarks, name, &id)
	if err != nil {
		return nil, err
	}
	plain, err := r.dec.DecodeAll(sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
	}
	m, err := decodeMark(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
	}
	m.ID = id
	return m, nil
}

// DeleteMark removes a mark (once swept, or replaced by its completion).
func (r *Repository) DeleteMark(ctx context.Context, id pack.ID) error {
	if err := r.target.Delete(ctx, KindMarks.Name(id)); err != nil {
		return fmt.Errorf("delete mark: %w", err)
	}
	return nil
}

// LoadMarked reads the marks into the index of marked packs, which only
// reads consult (Lookup): a backup never counts on a marked blob. It
// returns the marks. LoadIndex calls it.
func (r *Repository) LoadMarked(ctx context.Context) ([]*Mark, error) {
	marks, err := r.Marks(ctx)
	if err != nil {
		return nil, err
	}
	marked := index.New()
	for _, m := range marks {
		marked.AddFile(&index.File{Packs: m.Packs})
	}
	r.mu.Lock()
	r.marked = marked
	r.mu.Unlock()
	return marks, nil
}

// packKnown reports whether the index or a mark names pack p.
func (r *Repository) packKnown(p pack.ID) bool {
	if r.idx.BlobsEnd(p) > 0 {
		return true
	}
	r.mu.Lock()
	marked := r.marked
	r.mu.Unlock()
	return marked != nil && marked.BlobsEnd(p) > 0
}

// Lookup finds where a blob is stored, for reading it: in the index, or
// else in a pack that a prune marked for deletion but that a snapshot
// published meanwhile still needs (the next prune takes it back). What to
// store again is decided by Index().Has alone.
func (r *Repository) Lookup(t pack.BlobType, id pack.ID) (index.Location, bool) {
	if loc, ok := r.idx.Lookup(t, id); ok {
		return loc, true
	}
	r.mu.Lock()
	marked := r.marked
	r.mu.Unlock()
	if marked == nil {
		return index.Location{}, false
	}
	return marked.Lookup(t, id)
}
