package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"golang.org/x/sys/unix"
)

// ErrChangedWhileRead warns of a file whose size or modification time
// changed while it was read: its copy may mix old and new content.
var ErrChangedWhileRead = errors.New("file changed while being read; the copy may be inconsistent")

// fatal marks an error that must stop the whole backup (the repository
// failed), as opposed to a file that could not be read and is skipped.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// fileSaver reads files: a small file is one chunk, saved at once; a large
// one is cut by the chunker here and its chunks are saved by the blobSaver
// meanwhile.
type fileSaver struct {
	repo     *repository.Repository
	w        *repository.Writer
	cfg      repository.Config
	blobs    *blobSaver
	progress *Progress
	chunkers sync.Pool // *readCutter: a chunker with its read buffer
	small    sync.Pool // *[]byte holding a whole small file (below the minimum chunk size)
	warn     func(path string, err error)
}

func newFileSaver(repo *repository.Repository, w *repository.Writer, blobs *blobSaver, p *Progress, warn func(string, error)) *fileSaver {
	cfg := repo.Config()
	s := &fileSaver{repo: repo, w: w, cfg: cfg, blobs: blobs, progress: p, warn: warn}
	s.chunkers.New = func() any {
		return &readCutter{ch: newStreamCutter(newSplitter(cfg))}
	}
	return s
}

// openNoFollow opens a regular file for reading without following a
// symlink that replaced it, and without touching its atime where allowed.
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	}
	if err == nil {
		// Read front to back: ask for a larger readahead window.
		_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_SEQUENTIAL)
	}
	return f, err
}

// cutter maps a large file, guided by its previous blobs (prev, if any),
// or reads it through a pooled chunker; it also returns the largest blob
// the cutter yields.
func (s *fileSaver) cutter(f *os.File, size int64, prev []pack.ID) (cutter, int) {
	piece := s.pieceSize(size, prev)
	largest := int(s.cfg.MaxChunkSize)
	if piece > 0 {
		largest = piece
	}
	if size >= mapThreshold {
		var g *guide
		if len(prev) > 0 {
			g = newGuide(prev, s.chunkLength, piece)
		}
		if m, err := newMapCutter(f, size, s.cfg, piece, g, s.repo.BlobID); err == nil {
			return m, largest
		}
	}
	rc := s.chunkers.Get().(*readCutter)
	rc.ch.reset(f)
	rc.piece, rc.rest = piece, nil
	return pooledCutter{rc, &s.chunkers}, largest
}

// pieceSize is the layout of a file of size bytes whose previous version
// had the blobs prev: the piece size if it is stored in pieces, else 0.
// A file is stored in pieces if it is written in place in pages, which a
// size that is a whole number of pages tells the first time it is cut;
// from then on it keeps its layout, so that a file that grows or shrinks
// by other amounts (a log appended to, a database file that took a header)
// still finds its unchanged pieces. The previous layout shows in its
// first blob: a chunk is at least MinChunkSize long, a piece is shorter.
func (s *fileSaver) pieceSize(size int64, prev []pack.ID) int {
	piece := int(s.cfg.PieceSize)
	if piece == 0 {
		return 0
	}
	if len(prev) >= 2 {
		if n, ok := s.chunkLength(prev[0]); ok {
			if n == piece {
				return piece
			}
			return 0
		}
	}
	if size%repository.PageSize == 0 {
		return piece
	}
	return 0
}

// pooledCutter returns its chunker to the pool when closed.
type pooledCutter struct {
	*readCutter
	pool *sync.Pool
}

func (p pooledCutter) close() { p.pool.Put(p.readCutter) }

// chunkLength is the plaintext length of a data chunk in the repository.
func (s *fileSaver) chunkLength(id pack.ID) (int, bool) {
	loc, ok := s.repo.Lookup(pack.DataBlob, id)
	return int(loc.Entry.PlainLength()), ok
}

// save reads the file at path and stores its chunks, filling n.Content
// and n.Size with what was read. prev, if not nil, are the chunks of the
// file's previous version, which guide the cutting of a large file. A read
// error is returned as is (the file is skipped); a repository error is
// returned as fatal.
func (s *fileSaver) save(ctx context.Context, path string, n *repository.Node, prev []pack.ID) error {
	f, err := openNoFollow(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var before unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &before); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG || before.Ino != n.Inode {
		return fmt.Errorf("%s: replaced while being read", path)
	}
	n.Content = n.Content[:0]
	var size uint64
	if before.Size < int64(s.cfg.MinChunkSize) {
		// Below the minimum chunk size a file is one chunk: no chunker,
		// no hand-off, and a buffer of its own rather than one of the
		// blob savers' (those are as large as the largest chunk).
		bp, _ := s.small.Get().(*[]byte)
		if bp == nil {
			b := make([]byte, s.cfg.MinChunkSize+1)
			bp = &b
		}
		defer s.small.Put(bp)
		buf := (*bp)[:before.Size+1]
		m, err := io.ReadFull(f, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m > int(before.Size) {
			m = int(before.Size)
			s.warn(path, errors.New("file grew while being read; the copy stops at its first size"))
		}
		if m > 0 {
			id := s.repo.BlobID(buf[:m])
			if _, err := s.w.SaveBlob(pack.DataBlob, id, buf[:m]); err != nil {
				return fatal{err}
			}
			n.Content = append(n.Content, id)
			size = uint64(m)
			s.progress.BytesRead.Add(int64(m))
			s.progress.BytesDone.Add(int64(m))
		}
	} else {
		cut, largest := s.cutter(f, before.Size, prev)
		defer cut.close()
		var batch chunkBatch
		var slots []*pack.ID
		var readErr error
		for {
			buf, err := s.blobs.buffer(ctx, largest)
			if err != nil {
				readErr = err
				break
			}
			c, err := cut.next(buf)
			if err != nil || c.stored {
				s.blobs.release(buf, largest)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = &os.PathError{Op: "read", Path: path, Err: err}
				}
				break
			}
			slot := &c.id
			slots = append(slots, slot)
			if c.stored {
				s.progress.BytesMatched.Add(int64(c.length))
			} else {
				s.blobs.save(c.data, largest, slot, c.hashed, &batch)
			}
			size += uint64(c.length)
			s.progress.BytesRead.Add(int64(c.length))
			s.progress.BytesDone.Add(int64(c.length))
		}
		if err := batch.wait(); err != nil {
			return fatal{err}
		}
		if readErr != nil {
			return readErr
		}
		for _, id := range slots {
			n.Content = append(n.Content, *id)
		}
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err == nil &&
		(after.Mtim != before.Mtim || after.Size != before.Size) {
		s.warn(path, ErrChangedWhileRead)
	}
	n.Size = size
	return nil
}
