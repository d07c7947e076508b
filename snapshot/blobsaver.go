package snapshot

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// blobSaver hashes, compresses, seals and packs blobs on goroutines of
// its own, so that cutting a large file (sequential by nature: one core)
// and saving its blobs (the other cores) overlap. A budget of buffer bytes
// bounds the memory it holds, whatever the file sizes: the cutter can run
// as many blobs ahead as fit, which for 32 KiB pieces is hundreds (enough
// to keep the savers busy while the chunker looks for the next boundary)
// and for whole chunks a few.
type blobSaver struct {
	repo   *repository.Repository
	w      *repository.Writer
	jobs   chan chunkJob
	budget *semaphore.Weighted // bytes of buffers handed out
	mu     sync.Mutex
	pools  map[int]*sync.Pool // free buffers by capacity
	wg     sync.WaitGroup
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

// newBlobSaver starts workers savers with budget bytes of buffers.
func newBlobSaver(repo *repository.Repository, w *repository.Writer, workers int, budget int64) *blobSaver {
	s := &blobSaver{repo: repo, w: w, budget: semaphore.NewWeighted(budget), pools: map[int]*sync.Pool{},
		jobs: make(chan chunkJob, maxJobsQueued)}
	for i := 0; i < workers; i++ {
		s.wg.Add(1)
		go s.run()
	}
	return s
}

// maxJobsQueued lets the cutter hand over blobs without waiting for a
// saver while the budget allows.
const maxJobsQueued = 1024

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

// buffer takes a buffer for a blob of up to size bytes, waiting while the
// budget is spent. Buffers are made on first use (a backup of unchanged
// files needs none) and their pages touched only as blobs fill them.
func (s *blobSaver) buffer(ctx context.Context, size int) ([]byte, error) {
	if err := s.budget.Acquire(ctx, int64(size)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	pool := s.pools[size]
	if pool == nil {
		pool = &sync.Pool{}
		s.pools[size] = pool
	}
	s.mu.Unlock()
	if b, ok := pool.Get().(*[]byte); ok {
		return (*b)[:0], nil
	}
	return make([]byte, 0, size), nil
}

// release gives back a buffer taken for size bytes.
func (s *blobSaver) release(b []byte, size int) {
	s.mu.Lock()
	pool := s.pools[size]
	s.mu.Unlock()
	b = b[:0]
	pool.Put(&b)
	s.budget.Release(int64(size))
}

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
