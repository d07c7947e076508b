// Package targets defines where a repository's bytes live: a flat store of
// named, immutable objects. Implementations live in sub-packages (local, mem,
// and the cloud stores); the repository package is their only user.
package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Sentinel errors. Implementations translate their native errors into these
// at the edge, so that callers can use errors.Is.
var (
	// ErrNotFound: the named object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrAlreadyExists: an exclusive create found the name taken.
	ErrAlreadyExists = errors.New("object already exists")
	// ErrPermission: the store refused the credentials or the operation.
	// It is never worth retrying.
	ErrPermission = errors.New("permission denied")
	// ErrNoSpace: the store has no room for the object.
	ErrNoSpace = errors.New("no space left on target")
	// ErrTransient: the store reported a condition worth retrying
	// (throttling, a server error, a request timeout).
	ErrTransient = errors.New("transient error")
	// ErrOutOfRange: a ranged read reaches past the object's end (the
	// object is shorter than its reader believes: truncated, or another).
	ErrOutOfRange = errors.New("range beyond the object's end")
	// ErrCorrupt: the store's own checksum of the object does not match
	// the bytes it served (the object is damaged in the store). The bytes
	// can still be had with a ranged read (ReadStored), for a caller that
	// authenticates them itself.
	ErrCorrupt = errors.New("the store's checksum of the object does not match its bytes")
)

// Info describes one stored object.
type Info struct {
	Name    string // full name, e.g. "data/3f/3f2a..."
	Size    int64
	ModTime time.Time
}

// Target is a flat namespace of objects addressed by slash-separated names.
//
// The contract every implementation must keep (targettest.Run checks it):
//   - Put is atomic: a reader sees either no object or the whole object, never
//     a part, even if the writing process is killed mid-way. Put of an existing
//     name replaces it atomically.
//   - Read after write: once Put returns nil, Get, Stat and List see the object.
//   - Get returns the bytes [offset, offset+length) of an object; length < 0
//     means "to the end". A range past the end is ErrOutOfRange; ErrNotFound for a
//     missing object.
//   - List calls fn once per object whose name starts with prefix, in no
//     particular order; objects being written (not yet published) are never
//     listed. An error returned by fn stops the listing and is returned.
//   - Delete of a missing object returns nil.
//   - Every method honours ctx cancellation.
//   - Errors wrap the sentinels above where they apply.
type Target interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, name string) (Info, error)
	List(ctx context.Context, prefix string, fn func(Info) error) error
	Delete(ctx context.Context, name string) error
	// Location is a human-readable address (path or URL) for messages.
	Location() string
	Close() error
}

// Creator is an optional capability: PutIfAbsent stores the object only if
// the name is free, atomically, and returns ErrAlreadyExists otherwise.
// Targets without it can be wrapped by callers with a Stat-then-Put, which
// is racy; the repository uses it for objects that must never be replaced.
type Creator interface {
	PutIfAbsent(ctx context.Context, name string, data []byte) error
}

// FilePutter is an optional capability: PutFile publishes the content of
// the local file at path under name, atomically, as Put does. It may move
// the file rather than copy it; the caller removes path afterwards if it is
// still there. Each attempt reads the file from its start, so a retry
// replays it whole.
type FilePutter interface {
	PutFile(ctx context.Context, name, path string) error
}

// TempPrefix starts the names of temporary files, which targets never list.
const TempPrefix = ".tmp-"

// TempDirer is an optional capability of targets on a local file system:
// TempDir returns a directory on the same file system in which callers may
// create temporary files named TempPrefix+..., so that PutFile can publish
// them with a rename.
type TempDirer interface {
	TempDir() (string, error)
}

// TempSweeper is an optional capability of targets that keep temporary
// files of their own (a local file system): SweepTemps removes those last
// modified before cutoff, which only a killed writer leaves that long, and
// reports how many and how large (with dryRun it only counts them).
type TempSweeper interface {
	SweepTemps(ctx context.Context, cutoff time.Time, dryRun bool) (files int, size int64, err error)
}

// PutFile publishes a local file through t's FilePutter, or by reading it
// and calling Put.
func PutFile(ctx context.Context, t Target, name, path string) error {
	if fp, ok := t.(FilePutter); ok {
		return fp.PutFile(ctx, name, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return t.Put(ctx, name, data)
}

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, t Target, name string) ([]byte, error) {
	return ReadRange(ctx, t, name, 0, -1)
}

// ReadStored reads a whole object as the store holds it, even when the
// store's checksum of it fails (ErrCorrupt): then it reads it again as a
// range of its known size, which stores serve without their full-object
// check. For a caller that authenticates what it reads (repair, check),
// so that damage in the store can be found blob by blob.
func ReadStored(ctx context.Context, t Target, name string) ([]byte, error) {
	b, err := ReadAll(ctx, t, name)
	if !errors.Is(err, ErrCorrupt) {
		return b, err
	}
	fi, serr := t.Stat(ctx, name)
	if serr != nil {
		return nil, serr
	}
	return ReadRange(ctx, t, name, 0, fi.Size)
}

// CorruptOnRead wraps the body of a read so that an error that the
// store's client reports for a checksum mismatch (isCorrupt tells it, the
// clients having no type for it) wraps ErrCorrupt.
func CorruptOnRead(rc io.ReadCloser, name string, isCorrupt func(error) bool) io.ReadCloser {
	return corruptOnRead{rc, name, isCorrupt}
}

type corruptOnRead struct {
	io.ReadCloser
	name      string
	isCorrupt func(error) bool
}

func (c corruptOnRead) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && err != io.EOF && c.isCorrupt(err) {
		err = fmt.Errorf("%s: %w: %v", c.name, ErrCorrupt, err)
	}
	return n, err
}

// ReadRange reads length bytes at offset (length < 0: to the end).
func ReadRange(ctx context.Context, t Target, name string, offset, length int64) ([]byte, error) {
	rc, err := t.Get(ctx, name, offset, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if length >= 0 {
		buf := make([]byte, length)
		if _, err := io.ReadFull(rc, buf); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		return buf, nil
	}
	buf, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return buf, nil
}
