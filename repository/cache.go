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
