package snapshot

import (
	"context"
	"sync"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// blobSaver hashes, compresses, seals and packs blobs on goroutines of
// its own, so that cutting a large file (sequential by nature: one core)
// and saving its blobs (the other cores) overlap. Fixed sets of buffers,
// one per blob size, bound the memory it holds whatever the file sizes: a
// few as large as the largest chunk, and for 32 KiB pieces enough (16 MiB)
// to keep the savers busy while the chunker looks for the next boundary or
// waits for the disk.
type blobSaver struct {
	repo *repository.Repository
	w    *repository.Writer
	jobs chan chunkJob
	free map[int]chan []byte // free buffers by capacity (nil ones are made on first use)
	wg   sync.WaitGroup
}

type chunkJob struct {
	data   []byte
	size   int // the size its buffer was taken for
	slot   *pack.ID
	hashed bool // slot holds data's id already
	batch  *chunkBatch
}

// chunkBatch tracks the chunks of one file.
type chunkBatch struct {
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

func (b *chunkBatch) fail(err error) { b.once.Do(func() { b.err = err }) }

// wait returns once every submitted chunk is saved, with the first error.
func (b *chunkBatch) wait() error {
	b.wg.Wait()
	return b.err
}

// pieceBuffers is the number of buffers for pieces. Measured on the
// harness's first backup with a cold page cache: 128 (4 MiB) took 13.9 s
// at 114 MiB peak RSS, 512 (16 MiB) 11.7 s at 133 MiB, and a 32 MiB
// budget 10.6 s at 168 MiB (restic: 20.7 s, 142 MiB).
const pieceBuffers = 512

// newBlobSaver starts workers savers with chunkBuffers buffers for whole
// chunks (of the repository's largest chunk size) and, if the repository
// stores pieces, pieceBuffers for them.
func newBlobSaver(repo *repository.Repository, w *repository.Writer, workers, chunkBuffers int) *blobSaver {
	cfg := repo.Config()
	s := &blobSaver{repo: repo, w: w, free: map[int]chan []byte{}}
	sizes := map[int]int{int(cfg.MaxChunkSize): chunkBuffers}
	if cfg.PieceSize > 0 {
		sizes[int(cfg.PieceSize)] = pieceBuffers
	}
	total := 0
	for size, n := range sizes {
		s.free[size] = make(chan []byte, n)
		for range n {
			s.free[size] <- nil // made on first use: a backup of unchanged files needs none
		}
		total += n
	}
	// Room for every buffer: the cutter hands a blob over without waiting
	// for a saver to be free.
	s.jobs = make(chan chunkJob, total)
	for i := 0; i < workers; i++ {
		s.wg.Add(1)
		go s.run()
	}
	return s
}

func (s *blobSaver) run() {
	defer s.wg.Done()
	for j := range s.jobs {
		id := *j.slot
		if !j.hashed {
			id = s.repo.BlobID(j.data)
		}
		if _, err := s.w.SaveChunk(id, j.data); err != nil {
			j.batch.fail(err)
		}
		*j.slot = id
		s.release(j.data, j.size)
		j.batch.wg.Done()
	}
}

// buffer takes a free buffer for blobs of up to size bytes (the largest
// chunk, or the piece size), waiting for one if all are in use.
func (s *blobSaver) buffer(ctx context.Context, size int) ([]byte, error) {
	select {
	case b := <-s.free[size]:
		if b == nil {
			b = make([]byte, 0, size) // pages are touched only as blobs fill them
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release gives back a buffer taken for size bytes.
func (s *blobSaver) release(b []byte, size int) { s.free[size] <- b[:0] }

// save hands a blob (in a buffer taken for size bytes) to the savers; its id is
// written to slot before batch.wait returns. hashed says that slot holds
// the id already.
func (s *blobSaver) save(data []byte, size int, slot *pack.ID, hashed bool, batch *chunkBatch) {
	batch.wg.Add(1)
	s.jobs <- chunkJob{data: data, size: size, slot: slot, hashed: hashed, batch: batch}
}

// close stops the savers once every submitted chunk is saved.
func (s *blobSaver) close() {
	close(s.jobs)
	s.wg.Wait()
}
