package repository

import (
	"context"
	"fmt"
	"path"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// headerTail is how much of a pack's end is read at first: most headers fit
// (about 450 entries), so one request usually reads the whole header.
const headerTail = 32 << 10

// PackHeader reads the sealed header at the end of a stored pack of size
// bytes and returns its entries. Only the key holder can open a header, so
// this is how the index of a pack is recovered when no index file names it.
// A header that does not open or decode is ErrDamaged.
func (r *Repository) PackHeader(ctx context.Context, id pack.ID, size int64) ([]pack.Entry, error) {
	name := PackName(id)
	n := min(size, headerTail)
	tail, err := targets.ReadRange(ctx, r.target, name, size-n, n)
	if err != nil {
		return nil, err
	}
	hl, err := pack.HeaderLength(tail, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
	}
	if int64(hl)+4 > n {
		if tail, err = targets.ReadRange(ctx, r.target, name, size-int64(hl)-4, int64(hl)+4); err != nil {
			return nil, err
		}
	}
	sealed := tail[len(tail)-4-hl : len(tail)-4]
	entries, err := pack.ParseHeader(r.key, sealed, size-4-int64(hl))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
	}
	return entries, nil
}

// StoredPacks lists the stored packs with their sizes. Objects under data/
// that are not named as packs are left out (check reports them).
func (r *Repository) StoredPacks(ctx context.Context) (map[pack.ID]int64, error) {
	stored := map[pack.ID]int64{}
	err := r.target.List(ctx, KindData.Prefix(), func(fi targets.Info) error {
		if id, err := pack.ParseID(path.Base(fi.Name)); err == nil && PackName(id) == fi.Name {
			stored[id] = fi.Size
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs: %w", err)
	}
	return stored, nil
}

// SetPackAside stores the bytes of a damaged pack as damaged/<id>, where
// no index, check or prune looks: repair packs keeps what a later tool
// might recover from it. The pack itself stays in data/ until DeletePack.
func (r *Repository) SetPackAside(ctx context.Context, id pack.ID, data []byte) error {
	if err := r.target.Put(ctx, KindDamaged.Name(id), data); err != nil {
		return fmt.Errorf("set pack %s aside: %w", id.Short(), err)
	}
	return nil
}

// DeletePack removes a pack from data/. The caller holds the exclusive
// lock, and no index file names the pack any more.
func (r *Repository) DeletePack(ctx context.Context, id pack.ID) error {
	if err := r.target.Delete(ctx, PackName(id)); err != nil {
		return fmt.Errorf("delete pack %s: %w", id.Short(), err)
	}
	return nil
}
