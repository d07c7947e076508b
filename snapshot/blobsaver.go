package snapshot

import (
	"context"
	"sync"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// blobSaver hashes, compresses, seals and packs chunks on goroutines of
// its own, so that cutting a large file (sequential by nature: one core)
// and saving its chunks (the other cores) overlap. A fixed set of chunk
// buffers bounds the memory it holds, whatever the file sizes.
type blobSaver struct {
	repo *repository.Repository
	w    *repository.Writer
	jobs chan chunkJob
	free chan []byte // nil until a buffer is first needed
	size int         // of a chunk buffer: the largest chunk
	wg   sync.WaitGroup
}

type chunkJob struct {
	data   []byte
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

func newBlobSaver(repo *repository.Repository, w *repository.Writer, workers, buffers int) *blobSaver {
	s := &blobSaver{repo: repo, w: w, jobs: make(chan chunkJob), free: make(chan []byte, buffers), size: int(repo.Config().MaxChunkSize)}
	for i := 0; i < buffers; i++ {
		s.free <- nil // made on first use: a backup of unchanged files needs none
	}
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
		if _, err := s.w.SaveBlob(pack.DataBlob, id, j.data); err != nil {
			j.batch.fail(err)
		}
		*j.slot = id
		s.free <- j.data[:0]
		j.batch.wg.Done()
	}
}

// buffer takes a free chunk buffer, waiting for one if all are in use.
func (s *blobSaver) buffer(ctx context.Context) ([]byte, error) {
	select {
	case b := <-s.free:
		if b == nil {
			b = make([]byte, 0, s.size) // pages are touched only as chunks fill them
		}
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// save hands a chunk (in a buffer from buffer) to the savers; its id is
// written to slot before batch.wait returns. hashed says that slot holds
// the id already.
func (s *blobSaver) save(data []byte, slot *pack.ID, hashed bool, batch *chunkBatch) {
	batch.wg.Add(1)
	s.jobs <- chunkJob{data: data, slot: slot, hashed: hashed, batch: batch}
}

// close stops the savers once every submitted chunk is saved.
func (s *blobSaver) close() {
	close(s.jobs)
	s.wg.Wait()
}
