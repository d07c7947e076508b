package repository

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// The local cache keeps copies of the repository's snapshot and index
// files, as stored (sealed), under <CacheDir>/<repository id>/<kind>/<id>,
// so that listing snapshots or loading the index of a remote repository
// fetches only the files that are new since the last run. A cached copy is
// used only if its content hashes to its name (the same check as for the
// stored file; opening it authenticates it as well), so a damaged or
// altered cache costs a download, never a wrong answer. Files are written
// under a temporary name and renamed, so processes may share the cache.
// Copies of files the repository no longer lists are removed when the kind
// is listed.
//
// It also keeps tree packs (<dir>/trees/<pack id>: the pack's bytes, or
// their first part up to its last tree), written by the backup that
// uploads them or by the first read, so that a backup compares with its
// parent and a listing walks a snapshot without fetching its trees again.
// A pack's bytes cannot be checked against its name without all of them,
// so a cached tree is checked as every blob is, when it is opened; one
// that fails is read from the repository instead, and its copy removed.
// Copies of packs the index no longer names are removed when it is loaded.

// cachedKind reports whether objects of kind k are cached: small, read by
// most commands, and never rewritten under the same name.
func cachedKind(k Kind) bool { return k == KindSnapshots || k == KindIndex }

// cache is the cache directory of one repository; nil when caching is off.
type cache struct{ dir string }

func newCache(root, repoID string) *cache {
	if root == "" || repoID == "" || strings.ContainsAny(repoID, `/\.`) {
		return nil
	}
	return &cache{dir: filepath.Join(root, repoID)}
}

func (c *cache) path(name string) string { return filepath.Join(c.dir, filepath.FromSlash(name)) }

// get returns the cached copy of name if it hashes to id.
func (c *cache) get(name string, id pack.ID) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	b, err := os.ReadFile(c.path(name))
	if err != nil || pack.Hash(b) != id {
		return nil, false
	}
	return b, true
}

// put stores a copy of name; a failure only means no copy.
func (c *cache) put(name string, sealed []byte) {
	if c == nil {
		return
	}
	p := c.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-")
	if err != nil {
		return
	}
	_, err = f.Write(sealed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
}

// treesDir holds the cached tree packs.
const treesDir = "trees"

// treePack returns the cached bytes of tree pack p, unchecked.
func (c *cache) treePack(p pack.ID) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	b, err := os.ReadFile(c.path(treesDir + "/" + p.String()))
	return b, err == nil
}

// putTreePack keeps the bytes of tree pack p.
func (c *cache) putTreePack(p pack.ID, data []byte) { c.put(treesDir+"/"+p.String(), data) }

// dropTreePack removes the copy of tree pack p.
func (c *cache) dropTreePack(p pack.ID) {
	if c != nil {
		_ = os.Remove(c.path(treesDir + "/" + p.String()))
	}
}

// keepTreePacks removes the copies of tree packs that indexed does not
// name any more (a prune deleted them).
func (c *cache) keepTreePacks(indexed func(pack.ID) bool) {
	if c == nil {
		return
	}
	entries, err := os.ReadDir(c.path(treesDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		id, err := pack.ParseID(e.Name())
		if err != nil || !indexed(id) {
			_ = os.Remove(filepath.Join(c.path(treesDir), e.Name()))
		}
	}
}

// keep removes the copies of kind whose ids are not in ids (the files the
// repository lists now), and temporary files left by killed runs.
func (c *cache) keep(kind Kind, ids []pack.ID) {
	if c == nil {
		return
	}
	dir := c.path(strings.TrimSuffix(kind.Prefix(), "/"))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	listed := make(map[string]bool, len(ids))
	for _, id := range ids {
		listed[id.String()] = true
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return
			}
		}
	}
}
