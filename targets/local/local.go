// Package local stores objects as files below a directory.
//
// Object "a/b/c" is the file DIR/a/b/c. Put writes a temporary file in the
// same directory, syncs it, renames it over the final name and syncs the
// directory, so an object is either absent or complete after any crash.
// Temporary files start with ".tmp-" and are never listed.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lifeboat-backup/lifeboat/targets"
)

const tmpPrefix = targets.TempPrefix

// Target is a directory on a local (or mounted) file system.
type Target struct {
	dir string
}

var (
	_ targets.Target     = (*Target)(nil)
	_ targets.Creator    = (*Target)(nil)
	_ targets.FilePutter = (*Target)(nil)
	_ targets.TempDirer  = (*Target)(nil)
)

// New returns a target rooted at dir. The directory need not exist yet; it
// is created by the first Put.
func New(dir string) (*Target, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local target %q: %w", dir, err)
	}
	return &Target{dir: abs}, nil
}

// Location returns the directory.
func (t *Target) Location() string { return t.dir }

// Close does nothing.
func (t *Target) Close() error { return nil }

func (t *Target) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("invalid object name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." || strings.HasPrefix(part, tmpPrefix) {
			return "", fmt.Errorf("invalid object name %q", name)
		}
	}
	return filepath.Join(t.dir, filepath.FromSlash(name)), nil
}

// Put writes data under name atomically, replacing an existing object.
func (t *Target) Put(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, name, data, false)
}

// PutIfAbsent writes data under name unless the name is taken, atomically
// (link(2) fails on an existing name).
func (t *Target) PutIfAbsent(ctx context.Context, name string, data []byte) error {
	return t.put(ctx, name, data, true)
}

func (t *Target) put(ctx context.Context, name string, data []byte, exclusive bool) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := t.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return translate(name, err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return translate(name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return translate(name, err)
	}
	if err = f.Sync(); err != nil {
		return translate(name, err)
	}
	if err = f.Close(); err != nil {
		return translate(name, err)
	}
	if exclusive {
		// link fails with EEXIST where rename would silently replace.
		if err = os.Link(tmp, p); err != nil {
			return translate(name, err)
		}
		_ = os.Remove(tmp)
	} else if err = os.Rename(tmp, p); err != nil {
		return translate(name, err)
	}
	return syncDir(dir)
}

// TempDir is data/ of the repository: on its file system, and its
// temporary files are never listed.
func (t *Target) TempDir() (string, error) {
	dir := filepath.Join(t.dir, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", translate("data", err)
	}
	return dir, nil
}

// PutFile publishes the file at path under name: synced, then renamed into
// place when it is on the same file system, else copied.
func (t *Target) PutFile(ctx context.Context, name, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := t.path(name)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return translate(name, err)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return translate(name, err)
	}
	if err := os.Rename(path, p); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			data, rerr := os.ReadFile(path)
			if rerr != nil {
				return rerr
			}
			return t.Put(ctx, name, data)
		}
		return translate(name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Get opens the byte range [offset, offset+length) of an object.
func (t *Target) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := t.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, translate(name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, translate(name, err)
	}
	if offset < 0 || offset > fi.Size() || (length >= 0 && offset+length > fi.Size()) {
		f.Close()
		return nil, fmt.Errorf("%s: range %d+%d, size %d: %w", name, offset, length, fi.Size(), targets.ErrOutOfRange)
	}
	if length < 0 {
		length = fi.Size() - offset
	}
	return &section{SectionReader: io.NewSectionReader(f, offset, length), f: f}, nil
}

type section struct {
	*io.SectionReader
	f *os.File
}

func (s *section) Close() error { return s.f.Close() }

// Stat describes an object.
func (t *Target) Stat(ctx context.Context, name string) (targets.Info, error) {
	if err := ctx.Err(); err != nil {
		return targets.Info{}, err
	}
	p, err := t.path(name)
	if err != nil {
		return targets.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return targets.Info{}, translate(name, err)
	}
	return targets.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List walks every object whose name starts with prefix.
func (t *Target) List(ctx context.Context, prefix string, fn func(targets.Info) error) error {
	// Start at the deepest directory named entirely by the prefix.
	base := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = prefix[:i]
	}
	root := filepath.Join(t.dir, filepath.FromSlash(base))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(t.dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			// Prune directories that cannot hold a match.
			if p != root && !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(name, prefix) || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		return fn(targets.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()})
	})
	if err != nil {
		return translate(prefix, err)
	}
	return nil
}

// Delete removes an object; a missing one is not an error.
func (t *Target) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := t.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return translate(name, err)
	}
	return nil
}

func translate(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", name, targets.ErrNotFound)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s: %w", name, targets.ErrAlreadyExists)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: %w: %v", name, targets.ErrPermission, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%s: %w: %v", name, targets.ErrNoSpace, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// SweepTemps removes the temporary files (TempPrefix...) anywhere below the
// repository that were last modified before cutoff: what killed writers
// left behind, packs and every other kind of object. With dryRun it only
// counts them.
func (t *Target) SweepTemps(ctx context.Context, cutoff time.Time, dryRun bool) (files int, size int64, err error) {
	err = filepath.WalkDir(t.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			return nil // gone meanwhile, or perhaps still being written
		}
		if !dryRun {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		files++
		size += fi.Size()
		return nil
	})
	if err != nil {
		return files, size, fmt.Errorf("temporary files: %w", err)
	}
	return files, size, nil
}
