package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// ErrDamaged reports a stored object that fails authentication or does not
// decode. Its message names the object.
var ErrDamaged = errors.New("damaged object")

// saveSealed seals plaintext and stores it content-addressed under
// kind/<hash>. The write is atomic; the name commits to the content.
func (r *Repository) saveSealed(ctx context.Context, kind Kind, plaintext []byte) (pack.ID, error) {
	sealed := r.key.Seal(nil, plaintext, kind.ad())
	id := pack.Hash(sealed)
	if err := r.target.Put(ctx, kind.Name(id), sealed); err != nil {
		return id, fmt.Errorf("save %s: %w", kind, err)
	}
	if cachedKind(kind) { // the next run need not fetch what this one wrote
		r.cache.put(kind.Name(id), sealed)
	}
	return id, nil
}

// loadSealed reads and opens the object at name, checking that its content
// matches id when the kind is content-addressed. Snapshot and index files
// are read from the local cache when it has them (checked the same way),
// and put there when read from the repository.
func (r *Repository) loadSealed(ctx context.Context, kind Kind, name string, id *pack.ID) ([]byte, error) {
	cached := id != nil && cachedKind(kind)
	sealed, hit := []byte(nil), false
	if cached {
		sealed, hit = r.cache.get(name, *id)
	}
	if !hit {
		var err error
		if sealed, err = targets.ReadAll(ctx, r.target, name); err != nil {
			return nil, err
		}
		if id != nil && pack.Hash(sealed) != *id {
			return nil, fmt.Errorf("%w: %s: content does not match its name", ErrDamaged, name)
		}
		if cached {
			r.cache.put(name, sealed)
		}
	}
	plain, err := r.key.Open(nil, sealed, kind.ad())
	if err != nil {
		if errors.Is(err, crypto.ErrUnauthenticated) {
			return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
		}
		return nil, err
	}
	return plain, nil
}

func (r *Repository) saveJSON(ctx context.Context, kind Kind, v any) (pack.ID, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return pack.ID{}, err
	}
	return r.saveSealed(ctx, kind, b)
}

// listIDs lists the content-addressed objects of a kind.
func (r *Repository) listIDs(ctx context.Context, kind Kind) ([]pack.ID, error) {
	var ids []pack.ID
	err := r.target.List(ctx, kind.Prefix(), func(fi targets.Info) error {
		id, err := pack.ParseID(strings.TrimPrefix(fi.Name, kind.Prefix()))
		if err != nil {
			return nil // not ours; check reports strays
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	if cachedKind(kind) {
		r.cache.keep(kind, ids)
	}
	return ids, nil
}
