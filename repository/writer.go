package repository

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/workers"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// Every uploaded pack is named at once by an index file of its own, a
// checkpoint, so that a run killed at any moment leaves unindexed only the
// packs it was uploading (at most one per upload connection): the next run
// reuses everything else (see design.md, "Write order and crash safety").
// Once packsPerIndex checkpoints are gathered, and at Finish, they are
// written again as one index file, which supersedes them, and deleted:
// the repository keeps about one index file per packsPerIndex packs
// written, and readers fetch no more files than that.
const packsPerIndex = 64

// WriterStats counts what a Writer added to the repository.
type WriterStats struct {
	BlobsAdded  int64 // blobs newly stored
	BytesAdded  int64 // plaintext bytes of new blobs
	StoredBytes int64 // pack bytes written to the target
}

// Writer saves blobs into new packs and publishes them: packs first, then
// an index file naming them. Only what an index file names is ever used by
// another process, so a reader never sees a blob whose pack is incomplete.
// A Writer is safe for concurrent use; Finish or Abort ends it.
type Writer struct {
	r       *Repository
	ctx     context.Context
	cancel  context.CancelFunc
	uploads chan finishedPack

	mu      sync.Mutex
	open    map[pack.BlobType]*packFile
	pending map[blobKey]struct{} // blobs packed but not yet uploaded
	closed  bool
	tmpDir  string

	idxMu       sync.Mutex
	checkpoints []checkpoint      // index files of one pack each, not yet consolidated
	unindexed   []index.PackBlobs // uploaded packs whose checkpoint failed (for Abort)

	// Compression buffers reused across blobs; packs themselves go to
	// temporary files, so memory stays small whatever the amount of data.
	chunkBufs sync.Pool

	wg    sync.WaitGroup
	errMu sync.Mutex
	err   error // the first failure; it cancels ctx

	blobsAdded, bytesAdded, storedBytes atomic.Int64
}

// packFile is a pack being written to a temporary file.
type packFile struct {
	pw   *pack.Writer
	file *os.File
}

// checkpoint is the index file written for one uploaded pack.
type checkpoint struct {
	file pack.ID
	pack index.PackBlobs
}

type finishedPack struct {
	id      pack.ID
	path    string
	size    int64
	entries []pack.Entry
}

// NewWriter starts a writer whose uploads run until Finish or Abort.
func (r *Repository) NewWriter(ctx context.Context) *Writer {
	ctx, cancel := context.WithCancel(ctx)
	n := r.opts.uploads()
	w := &Writer{
		r: r, ctx: ctx, cancel: cancel,
		uploads: make(chan finishedPack),
		open:    map[pack.BlobType]*packFile{},
		pending: map[blobKey]struct{}{},
		tmpDir:  os.TempDir(),
	}
	// On a local target, temporary packs go beside the repository's data,
	// so that publishing one is a rename.
	if td, ok := r.target.(targets.TempDirer); ok {
		if dir, err := td.TempDir(); err == nil {
			w.tmpDir = dir
		}
	}
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go w.uploader()
	}
	return w
}

type blobKey struct {
	t  pack.BlobType
	id pack.ID
}

// fail records err unless an earlier failure was recorded, and stops the
// writer: the first failure is the one reported, later ones (often caused by
// the cancellation) are dropped.
func (w *Writer) fail(err error) {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	if w.err == nil {
		w.err = err
		w.cancel()
	}
}

// failed returns the first failure, counting a cancelled context as one.
func (w *Writer) failed() error {
	if err := w.ctx.Err(); err != nil {
		w.fail(err)
	}
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// SaveBlob stores plain under id unless the repository (or this writer)
// has it already; it reports whether the blob was new. id must be
// r.BlobID(plain). plain is not retained. It is for whole objects: a
// tree, or a file too small to be cut.
func (w *Writer) SaveBlob(t pack.BlobType, id pack.ID, plain []byte) (bool, error) {
	return w.save(t, id, plain, true)
}

// SaveChunk is SaveBlob for a data blob cut from a large file (a chunk
// or a piece).
func (w *Writer) SaveChunk(id pack.ID, plain []byte) (bool, error) {
	return w.save(pack.DataBlob, id, plain, true)
}

// CopyBlob stores a blob even though the index knows it: the garbage
// collector uses it to move blobs out of packs it is going to delete.
func (w *Writer) CopyBlob(t pack.BlobType, id pack.ID, plain []byte) error {
	_, err := w.save(t, id, plain, false)
	return err
}

func (w *Writer) save(t pack.BlobType, id pack.ID, plain []byte, dedupIndex bool) (bool, error) {
	if err := w.failed(); err != nil {
		return false, err
	}
	k := blobKey{t, id}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false, errors.New("writer is closed")
	}
	if _, ok := w.pending[k]; ok || (dedupIndex && w.r.idx.Has(t, id)) {
		w.mu.Unlock()
		return false, nil
	}
	w.pending[k] = struct{}{}
	w.mu.Unlock()

	// Room for the chunk even when zstd cannot shrink it.
	cbuf := w.getBuf(&w.chunkBufs, len(plain)+len(plain)/128+1024)
	payload, raw := w.r.compress(t, plain, cbuf)

	w.mu.Lock()
	pf := w.open[t]
	var err error
	if pf == nil {
		if pf, err = w.newPackFile(); err != nil {
			w.mu.Unlock()
			w.fail(err)
			return false, err
		}
		w.open[t] = pf
	}
	_, err = pf.pw.Add(w.r.key, t, id, payload, raw)
	if raw != 0 {
		w.chunkBufs.Put(&payload)
	} else {
		w.chunkBufs.Put(&cbuf)
	}
	var full *packFile
	if err == nil && pf.pw.Len() >= int64(w.r.cfg.PackSize) {
		full = pf
		delete(w.open, t)
	}
	w.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("write pack: %w", err)
		w.fail(err)
		return false, err
	}

	w.blobsAdded.Add(1)
	w.bytesAdded.Add(int64(len(plain)))
	if full != nil {
		return true, w.send(full)
	}
	return true, nil
}

// getBuf takes a buffer of at least size bytes capacity from pool.
func (w *Writer) getBuf(pool *sync.Pool, size int) []byte {
	if b, ok := pool.Get().(*[]byte); ok && cap(*b) >= size {
		return (*b)[:0]
	}
	return make([]byte, 0, size)
}

func (w *Writer) newPackFile() (*packFile, error) {
	f, err := os.CreateTemp(w.tmpDir, targets.TempPrefix+"pack-")
	if err != nil {
		return nil, fmt.Errorf("temporary pack: %w", err)
	}
	return &packFile{pw: pack.NewWriter(bufio.NewWriterSize(f, 1<<20)), file: f}, nil
}

// discard removes an unfinished or unpublished pack file.
func discard(path string) { _ = os.Remove(path) }

func (pf *packFile) finish(key *crypto.Key) (finishedPack, error) {
	id, entries, size, err := pf.pw.Finish(key)
	if err == nil {
		err = pf.pw.Flush()
	}
	if cerr := pf.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		discard(pf.file.Name())
		return finishedPack{}, fmt.Errorf("write pack: %w", err)
	}
	return finishedPack{id: id, path: pf.file.Name(), size: size, entries: entries}, nil
}

// trees reports whether the pack holds trees only.
func (p finishedPack) trees() bool {
	for _, e := range p.entries {
		if e.Type != pack.TreeBlob {
			return false
		}
	}
	return len(p.entries) > 0
}

func (w *Writer) send(pf *packFile) error {
	p, err := pf.finish(w.r.key)
	if err != nil {
		w.fail(err)
		return err
	}
	select {
	case w.uploads <- p:
		return nil
	case <-w.ctx.Done():
		discard(p.path)
		return w.failed()
	}
}

func (w *Writer) uploader() {
	defer w.wg.Done()
	for p := range w.uploads {
		if w.failed() != nil {
			discard(p.path) // drain
			continue
		}
		err := targets.PutFile(w.ctx, w.r.target, PackName(p.id), p.path)
		if err == nil && w.r.cache != nil && p.trees() {
			// The next backup compares with these trees: keep them here.
			if data, rerr := os.ReadFile(p.path); rerr == nil {
				w.r.cache.putTreePack(p.id, data)
			}
		}
		discard(p.path) // gone already if the target moved it
		if err != nil {
			w.fail(fmt.Errorf("save pack %s: %w", p.id.Short(), err))
			continue
		}
		w.storedBytes.Add(p.size)
		w.r.idx.AddPack(p.id, p.entries)
		w.mu.Lock()
		for _, e := range p.entries {
			delete(w.pending, blobKey{e.Type, e.ID})
		}
		w.mu.Unlock()
		if err := w.checkpoint(index.PackBlobs{Pack: p.id, Entries: p.entries}); err != nil {
			w.fail(err)
		}
	}
}

// checkpoint writes the index file of one uploaded pack, and consolidates
// the checkpoints once packsPerIndex are gathered.
func (w *Writer) checkpoint(p index.PackBlobs) error {
	id, err := w.r.SaveIndexFile(w.ctx, &index.File{Packs: []index.PackBlobs{p}})
	w.idxMu.Lock()
	if err != nil {
		w.unindexed = append(w.unindexed, p)
		w.idxMu.Unlock()
		return err
	}
	w.checkpoints = append(w.checkpoints, checkpoint{file: id, pack: p})
	var full []checkpoint
	if len(w.checkpoints) >= packsPerIndex {
		full, w.checkpoints = w.checkpoints, nil
	}
	w.idxMu.Unlock()
	return w.consolidate(full)
}

// consolidate writes one index file naming the packs of cps, which
// supersedes their files, then deletes those. A file left behind (a
// failed delete, a killed run) names the same packs as the new one and
// costs nothing but a read; the next prune supersedes it.
func (w *Writer) consolidate(cps []checkpoint) error {
	if len(cps) < 2 {
		return nil
	}
	f := &index.File{}
	for _, c := range cps {
		f.Packs = append(f.Packs, c.pack)
		f.Supersedes = append(f.Supersedes, c.file)
	}
	if _, err := w.r.SaveIndexFile(w.ctx, f); err != nil {
		return err
	}
	_ = workers.ForEach(w.ctx, len(cps), w.r.opts.uploads(), func(ctx context.Context, i int) error {
		_ = w.r.DeleteIndexFile(ctx, cps[i].file)
		return nil
	})
	return nil
}

func (w *Writer) writeIndex(ctx context.Context, packs []index.PackBlobs) error {
	if len(packs) == 0 {
		return nil
	}
	_, err := w.r.SaveIndexFile(ctx, &index.File{Packs: packs})
	return err
}

// Finish packs what is left, waits for every upload and writes the last
// index file. After Finish returns nil, every saved blob is published.
func (w *Writer) Finish() (WriterStats, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return w.Stats(), errors.New("writer is closed")
	}
	w.closed = true
	var last []*packFile
	for t, pf := range w.open {
		last = append(last, pf)
		delete(w.open, t)
	}
	w.mu.Unlock()
	for i, pf := range last {
		if err := w.send(pf); err != nil {
			for _, rest := range last[i+1:] {
				rest.file.Close()
				discard(rest.file.Name())
			}
			break
		}
	}
	close(w.uploads)
	w.wg.Wait()
	if err := w.failed(); err != nil {
		w.cancel()
		return w.Stats(), err
	}
	err := w.consolidate(w.checkpoints)
	w.checkpoints = nil
	w.cancel()
	return w.Stats(), err
}

// Abort stops the writer after a failure or an interrupt. Packs already
// uploaded are named in index files (their checkpoints; one whose
// checkpoint failed is tried again within a short grace period, even if
// ctx is cancelled) so that the next run can reuse them; blobs not yet
// uploaded are dropped. The repository stays valid either way.
func (w *Writer) Abort() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	for _, pf := range w.open {
		pf.file.Close()
		discard(pf.file.Name())
	}
	w.open = map[pack.BlobType]*packFile{}
	w.mu.Unlock()
	w.fail(context.Canceled)
	close(w.uploads)
	w.wg.Wait()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
	defer cancel()
	_ = w.writeIndex(ctx, w.unindexed)
	w.unindexed = nil
}

// Stats returns the counts so far.
func (w *Writer) Stats() WriterStats {
	return WriterStats{BlobsAdded: w.blobsAdded.Load(), BytesAdded: w.bytesAdded.Load(), StoredBytes: w.storedBytes.Load()}
}
