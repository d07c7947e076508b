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
	"github.com/restic/chunker"
	"golang.org/x/sys/unix"
)

// fatal marks an error that must stop the whole backup (the repository
// failed), as opposed to a file that could not be read and is skipped.
type fatal struct{ err error }

func (f fatal) Error() string { return f.err.Error() }
func (f fatal) Unwrap() error { return f.err }

// chunkState is the per-worker memory for cutting one file: the chunker
// with its read buffer, and room for the largest chunk.
type chunkState struct {
	ch  *chunker.Chunker
	buf []byte
}

type fileSaver struct {
	repo     *repository.Repository
	w        *repository.Writer
	cfg      repository.Config
	progress *Progress
	pool     sync.Pool
	warn     func(path string, err error)
}

func newFileSaver(repo *repository.Repository, w *repository.Writer, p *Progress, warn func(string, error)) *fileSaver {
	cfg := repo.Config()
	s := &fileSaver{repo: repo, w: w, cfg: cfg, progress: p, warn: warn}
	s.pool.New = func() any {
		return &chunkState{
			ch:  chunker.New(nil, cfg.ChunkerPolynomial, chunker.WithBoundaries(cfg.MinChunkSize, cfg.MaxChunkSize), chunker.WithAverageBits(cfg.AverageChunkBits)),
			buf: make([]byte, 0, cfg.MaxChunkSize),
		}
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
	return f, err
}

// save reads the file at path and stores its chunks, filling n.Content
// and n.Size with what was read. A read error is returned as is (the file
// is skipped); a repository error is returned as fatal.
func (s *fileSaver) save(ctx context.Context, path string, n *repository.Node) error {
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
	emit := func(data []byte) error {
		id := s.repo.BlobID(data)
		if _, err := s.w.SaveBlob(pack.DataBlob, id, data); err != nil {
			return fatal{err}
		}
		n.Content = append(n.Content, id)
		size += uint64(len(data))
		s.progress.BytesRead.Add(int64(len(data)))
		s.progress.BytesDone.Add(int64(len(data)))
		return ctx.Err()
	}
	st := s.pool.Get().(*chunkState)
	defer s.pool.Put(st)
	if before.Size < int64(s.cfg.MinChunkSize) {
		// Below the minimum chunk size a file is one chunk: no chunker.
		buf := st.buf[:cap(st.buf)][:before.Size+1]
		m, err := io.ReadFull(f, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m > int(before.Size) {
			m = int(before.Size)
			s.warn(path, errors.New("file grew while being read; the copy stops at its first size"))
		}
		if m > 0 {
			if err := emit(buf[:m]); err != nil {
				return err
			}
		}
	} else {
		st.ch.Reset(f, s.cfg.ChunkerPolynomial, chunker.WithBoundaries(s.cfg.MinChunkSize, s.cfg.MaxChunkSize), chunker.WithAverageBits(s.cfg.AverageChunkBits))
		for {
			c, err := st.ch.Next(st.buf)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return &os.PathError{Op: "read", Path: path, Err: err}
			}
			if err := emit(c.Data); err != nil {
				return err
			}
		}
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err == nil &&
		(after.Mtim != before.Mtim || after.Size != before.Size) {
		s.warn(path, errors.New("file changed while being read; the copy may be inconsistent"))
	}
	n.Size = size
	return nil
}
