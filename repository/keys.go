package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// ErrNoKey: no key of the repository has the id given.
var ErrNoKey = errors.New("no key")

// ErrWrongPassword: no key of the repository opens with the password.
var ErrWrongPassword = errors.New("wrong password or no key found")

// KeyFile is the plaintext JSON stored at keys/<id>: the master key sealed
// under a key derived from one password. The id is the hash of the file.
type KeyFile struct {
	Version  int              `json:"version"`
	Created  time.Time        `json:"created"`
	Host     string           `json:"host"`
	Username string           `json:"username"`
	KDF      crypto.KDFParams `json:"kdf"`
	Master   []byte           `json:"master"` // crypto.Wrap output
}

// KeyInfo describes a key for listings.
type KeyInfo struct {
	ID       pack.ID   `json:"id"`
	Current  bool      `json:"current"`
	Created  time.Time `json:"created"`
	Host     string    `json:"host"`
	Username string    `json:"username"`
}

// DecodeKeyFile parses and checks a key file.
func DecodeKeyFile(b []byte) (*KeyFile, error) {
	var kf KeyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("%w: key file: %v", ErrDamaged, err)
	}
	if kf.Version != 1 {
		return nil, fmt.Errorf("%w: key file version %d", ErrDamaged, kf.Version)
	}
	if err := kf.KDF.Validate(); err != nil {
		return nil, fmt.Errorf("%w: key file: %v", ErrDamaged, err)
	}
	return &kf, nil
}

func newKeyFile(master *crypto.Key, password []byte, kdf crypto.KDFParams, now time.Time) ([]byte, error) {
	wrapped, err := crypto.Wrap(master, password, kdf)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return json.MarshalIndent(KeyFile{
		Version: 1, Created: now.UTC(), Host: host, Username: name, KDF: kdf, Master: wrapped,
	}, "", "  ")
}

func putKeyFile(ctx context.Context, t targets.Target, b []byte) (pack.ID, error) {
	id := pack.Hash(b)
	if err := t.Put(ctx, KindKeys.Name(id), b); err != nil {
		return id, fmt.Errorf("save key: %w", err)
	}
	return id, nil
}

// openMaster tries every key file with password.
func openMaster(ctx context.Context, t targets.Target, password []byte) (*crypto.Key, pack.ID, error) {
	var names []string
	err := t.List(ctx, KindKeys.Prefix(), func(fi targets.Info) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		return nil, pack.ID{}, fmt.Errorf("list keys: %w", err)
	}
	var damaged error
	foreign := 0 // key files of another program
	for _, name := range names {
		b, err := targets.ReadAll(ctx, t, name)
		if errors.Is(err, targets.ErrNotFound) {
			continue // removed since the listing (key passwd, key remove)
		}
		if err != nil {
			return nil, pack.ID{}, err
		}
		kf, err := DecodeKeyFile(b)
		if err != nil {
			if resticKey(b) {
				foreign++
			}
			damaged = fmt.Errorf("%s: %w", name, err)
			continue
		}
		master, err := crypto.Unwrap(kf.Master, password, kf.KDF)
		if errors.Is(err, crypto.ErrUnauthenticated) {
			continue
		}
		if err != nil {
			return nil, pack.ID{}, fmt.Errorf("%s: %w", name, err)
		}
		return master, pack.Hash(b), nil
	}
	switch {
	case len(names) == 0:
		return nil, pack.ID{}, fmt.Errorf("%w at %s: it holds a config but no keys/ (not a lifeboat repository, or one whose keys are lost)", ErrNotRepository, t.Location())
	case foreign == len(names):
		return nil, pack.ID{}, fmt.Errorf("%w at %s: it is a restic repository (its keys are restic's); read it with restic", ErrNotRepository, t.Location())
	}
	if damaged != nil {
		return nil, pack.ID{}, fmt.Errorf("%w (and a damaged key: %v)", ErrWrongPassword, damaged)
	}
	return nil, pack.ID{}, ErrWrongPassword
}

// AddKey stores a new key for password, wrapping the open repository's
// master key, and returns its id.
func (r *Repository) AddKey(ctx context.Context, password []byte) (pack.ID, error) {
	kdf, err := r.opts.kdf()
	if err != nil {
		return pack.ID{}, err
	}
	b, err := newKeyFile(r.key, password, kdf, r.opts.now())
	if err != nil {
		return pack.ID{}, err
	}
	return putKeyFile(ctx, r.target, b)
}

// Keys lists the repository's keys.
func (r *Repository) Keys(ctx context.Context) ([]KeyInfo, error) {
	var out []KeyInfo
	ids, err := r.listIDs(ctx, KindKeys)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		b, err := targets.ReadAll(ctx, r.target, KindKeys.Name(id))
		if errors.Is(err, targets.ErrNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, err
		}
		kf, err := DecodeKeyFile(b)
		if err != nil {
			return nil, fmt.Errorf("keys/%s: %w", id, err)
		}
		out = append(out, KeyInfo{ID: id, Current: id == r.keyID, Created: kf.Created, Host: kf.Host, Username: kf.Username})
	}
	return out, nil
}

// RemoveKey deletes a key. The key in use cannot be removed, so that a
// repository always keeps at least one key that someone can open.
func (r *Repository) RemoveKey(ctx context.Context, id pack.ID) error {
	if id == r.keyID {
		return errors.New("refusing to remove the key in use (open the repository with another key first)")
	}
	if _, err := r.target.Stat(ctx, KindKeys.Name(id)); err != nil {
		return fmt.Errorf("key %s: %w", id.Short(), err)
	}
	return r.target.Delete(ctx, KindKeys.Name(id))
}

// ChangePassword adds a key for the new password, then removes the key in
// use, in that order so that a crash never leaves the repository keyless.
func (r *Repository) ChangePassword(ctx context.Context, password []byte) (pack.ID, error) {
	id, err := r.AddKey(ctx, password)
	if err != nil {
		return id, err
	}
	old := r.keyID
	r.keyID = id
	if err := r.target.Delete(ctx, KindKeys.Name(old)); err != nil {
		return id, fmt.Errorf("new key %s added, but removing the old key failed: %w", id.Short(), err)
	}
	return id, nil
}

// KeyID is the id of the key that opened the repository.
func (r *Repository) KeyID() pack.ID { return r.keyID }

// resticKey reports whether b is a key file of restic, whose repositories
// have the same folders as lifeboat's: JSON with a "kdf" name and sealed
// "data".
func resticKey(b []byte) bool {
	var k struct {
		KDF  any    `json:"kdf"`
		Data string `json:"data"`
	}
	if json.Unmarshal(b, &k) != nil {
		return false
	}
	name, ok := k.KDF.(string)
	return ok && name != "" && k.Data != ""
}
