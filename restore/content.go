package restore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/lifeboat-backup/lifeboat/internal/workers"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// File contents are restored pack by pack rather than file by file: every
// pack that holds needed chunks is read once, in as few ranged reads as its
// layout allows, and each chunk is written to every place in every file
// that needs it. Several packs are handled at once, so a large file's
// chunks are written in parallel and many small files cost one read per
// pack instead of one per file.

const (
	maxSegment = 64 << 20 // largest single ranged read (streamed, not held)
	maxGap     = 1 << 20  // unneeded bytes worth reading to save a request
	readBuffer = 256 << 10
)

// fileJob is one regular file being written, under its own name in a
// staging directory or under a temporary name beside an existing entry.
type fileJob struct {
	op      *op
	mu      sync.Mutex
	dir     *dirHandle // held from the first write to the last
	release func()
	f       *os.File
	tmp     string // the name written under
	perm    uint32 // the permissions it was created with (after the umask)
	left    int    // chunks not yet written
	written int64  // bytes written so far
	// patch: the file exists under its name holding the base's content,
	// and only the chunks that differ are written into it.
	patch bool
	// lost: ranges whose data is damaged or lost in the repository (why
	// says how the first was); such a file is never published as restored.
	lost []Range
	why  string
}

type place struct {
	job *fileJob
	off int64
}

// need is one blob and every place it goes.
type need struct {
	entry  pack.Entry
	places []place
}

func (r *restorer) restoreContents(ctx context.Context, files []*op) (err error) {
	var jobs []*fileJob
	byPack := map[pack.ID]map[pack.ID]*need{}
	var packs []pack.ID // in order of first use, which is about the order they were written
	defer func() {
		if err != nil {
			for _, j := range jobs {
				j.abandon()
			}
		}
	}()
	for _, o := range files {
		act, err := r.fileAction(o)
		if err != nil {
			return err
		}
		if act == keepFile {
			continue
		}
		o.touched = true
		j := &fileJob{op: o, patch: act == patchFile}
		var have map[int64]pack.ID
		if j.patch {
			if have = r.baseChunks(o.base); have == nil {
				j.patch = false
			}
			o.kept = have
		}
		jobs = append(jobs, j)
		var off int64
		for _, id := range o.node.Content {
			loc, ok := r.repo.Lookup(pack.DataBlob, id)
			if !ok { // where the chunks after it go is unknown: lost to the end
				j.lost = append(j.lost, Range{off, max(off, int64(o.node.Size))})
				j.why = fmt.Sprintf("chunk %s: %v", id.Short(), repository.ErrBlobNotFound)
				off = int64(o.node.Size)
				break
			}
			if have[off] == id { // already there
				off += int64(loc.Entry.PlainLength())
				r.opts.Progress.BytesDone.Add(int64(loc.Entry.PlainLength()))
				continue
			}
			j.left++
			blobs := byPack[loc.Pack]
			if blobs == nil {
				blobs = map[pack.ID]*need{}
				byPack[loc.Pack] = blobs
				packs = append(packs, loc.Pack)
			}
			nd := blobs[id]
			if nd == nil {
				nd = &need{entry: loc.Entry}
				blobs[id] = nd
			}
			nd.places = append(nd.places, place{job: j, off: off})
			off += int64(loc.Entry.PlainLength())
		}
		if off != int64(o.node.Size) {
			j.lost = append(j.lost, Range{0, int64(o.node.Size)})
			j.why = fmt.Sprintf("%v: chunks add up to %d bytes, the snapshot says %d", repository.ErrDamaged, off, o.node.Size)
		}
		if j.left == 0 { // empty, or a patch with no chunk to write
			if err := r.write(ctx, j, 0, nil); err != nil {
				return err
			}
		}
	}
	free := make(chan *packBuffers, r.opts.Workers)
	for range r.opts.Workers {
		free <- &packBuffers{}
	}
	return workers.ForEach(ctx, len(packs), r.opts.Workers, func(ctx context.Context, i int) error {
		bufs := <-free
		defer func() { free <- bufs }()
		return r.restorePack(ctx, packs[i], byPack[packs[i]], bufs)
	})
}

// baseChunks maps the offsets of base's chunks to their ids, or returns
// nil if a chunk is no longer in the index (its length, and so the offsets
// after it, cannot be known).
func (r *restorer) baseChunks(base *repository.Node) map[int64]pack.ID {
	have := make(map[int64]pack.ID, len(base.Content))
	var off int64
	for _, id := range base.Content {
		loc, ok := r.repo.Lookup(pack.DataBlob, id)
		if !ok {
			return nil
		}
		have[off] = id
		off += int64(loc.Entry.PlainLength())
	}
	return have
}

// segments groups a pack's needed blobs into ranged reads.
func segments(needs []*need) [][]*need {
	sort.Slice(needs, func(i, k int) bool { return needs[i].entry.Offset < needs[k].entry.Offset })
	var out [][]*need
	var cur []*need
	var start, end int64
	for _, nd := range needs {
		off, e := int64(nd.entry.Offset), int64(nd.entry.Offset)+int64(nd.entry.Length)
		if len(cur) > 0 && (off-end > maxGap || e-start > maxSegment) {
			out = append(out, cur)
			cur = nil
		}
		if len(cur) == 0 {
			start = off
		}
		cur = append(cur, nd)
		end = e
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// packBuffers are one worker's reusable buffers: the sealed bytes of the
// blob being opened and its decompressed form.
type packBuffers struct {
	sealed, plain []byte
	rd            *bufio.Reader
}

// grow returns b, or a new buffer if b cannot hold n bytes. A new buffer
// is made large enough for the largest chunk (largest), so that a worker's
// buffers grow once rather than with every larger chunk; the pages of a
// fresh allocation that are never written take no memory.
func grow(b []byte, n, largest int) []byte {
	if cap(b) >= n {
		return b
	}
	return make([]byte, 0, max(n, largest))
}

// restorePack reads the needed blobs of one pack, streaming each segment so
// that a worker holds one blob at a time rather than a whole segment.
func (r *restorer) restorePack(ctx context.Context, id pack.ID, blobs map[pack.ID]*need, bufs *packBuffers) error {
	needs := make([]*need, 0, len(blobs))
	for _, nd := range blobs {
		needs = append(needs, nd)
	}
	for _, seg := range segments(needs) {
		if err := r.restoreSegment(ctx, id, seg, bufs); err != nil {
			return err
		}
	}
	return nil
}

func (r *restorer) restoreSegment(ctx context.Context, id pack.ID, seg []*need, bufs *packBuffers) error {
	start := int64(seg[0].entry.Offset)
	last := seg[len(seg)-1].entry
	rc, err := r.repo.Target().Get(ctx, repository.PackName(id), start, int64(last.Offset)+int64(last.Length)-start)
	if repository.IsLost(err) {
		why := fmt.Sprintf("pack %s: %v", id.Short(), err)
		for _, nd := range seg {
			if err := r.lose(ctx, nd, why); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: pack %s: %w", id.Short(), err)
	}
	defer rc.Close()
	if bufs.rd == nil {
		bufs.rd = bufio.NewReaderSize(rc, readBuffer)
	} else {
		bufs.rd.Reset(rc)
	}
	pos := start
	largest := int(r.repo.Config().MaxChunkSize)
	for _, nd := range seg {
		e := nd.entry
		if _, err := bufs.rd.Discard(int(int64(e.Offset) - pos)); err != nil {
			return fmt.Errorf("restore: pack %s: %w", id.Short(), err)
		}
		bufs.sealed = grow(bufs.sealed, int(e.Length), largest+crypto.Overhead)
		bufs.plain = grow(bufs.plain, int(e.RawLength), largest)
		sealed := bufs.sealed[:e.Length]
		if _, err := io.ReadFull(bufs.rd, sealed); err != nil {
			return fmt.Errorf("restore: pack %s: %w", id.Short(), err)
		}
		pos = int64(e.Offset) + int64(e.Length)
		plain, err := r.repo.OpenBlob(e, sealed, bufs.plain)
		if repository.IsLost(err) {
			if err := r.lose(ctx, nd, fmt.Sprintf("pack %s: %v", id.Short(), err)); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("restore /%s: %w", nd.places[0].job.op.rel(), err)
		}
		if e.RawLength != 0 {
			bufs.plain = plain // reuse the decompression buffer
		}
		for _, p := range nd.places {
			if err := r.write(ctx, p.job, p.off, plain); err != nil {
				return err
			}
		}
	}
	return nil
}

// write puts one chunk into a file, creating the file on the first chunk
// and finishing it (metadata, then the rename from a temporary name) after
// the last.
func (r *restorer) write(ctx context.Context, j *fileJob, off int64, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	o, n := j.op, j.op.node
	if j.f == nil {
		if err := r.open(j); err != nil {
			return err
		}
	}
	var err error
	if n.Sparse {
		// Zero blocks stay holes in a new file; in a patched one they
		// may hold the base's data and are punched out.
		err = writeSparse(j.f, data, off, j.patch)
	} else if len(data) > 0 {
		_, err = j.f.WriteAt(data, off)
	}
	if err != nil {
		return wrap(o, err)
	}
	j.written += int64(len(data))
	return r.chunkDone(j, int64(len(data)))
}

// chunkDone counts one chunk of j done (n bytes, written or lost) and
// finishes the file after its last; the caller holds j.mu.
func (r *restorer) chunkDone(j *fileJob, n int64) error {
	r.opts.Progress.BytesDone.Add(n)
	if j.left > 0 {
		j.left--
	}
	if j.left > 0 {
		return nil
	}
	return r.finish(j)
}

// open creates (or, to patch it, opens) the file of j; the caller holds
// j.mu.
func (r *restorer) open(j *fileJob) error {
	o, n := j.op, j.op.node
	d, release, err := r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	var f *os.File
	tmp, perm := n.Name, uint32(0o600)
	if j.patch {
		f, err = d.openForPatch(n.Name)
	} else if r.staged {
		// Only this restore can reach the staging directory (0700): the
		// file is created with its permissions, as far as the umask
		// lets them through, so that they need not be set again.
		if mode := n.Mode & 0o7777; r.umaskKnown && mode&0o7000 == 0 {
			perm = mode
		}
		f, err = d.create(tmp, perm)
	} else {
		f, tmp, err = d.createTemp(tempPrefix, &r.tempSeq)
	}
	if err != nil {
		release()
		return wrap(o, err)
	}
	if r.umaskKnown {
		perm &^= r.umask
	} else {
		perm = ^uint32(0) // unknown: always set
	}
	j.dir, j.release, j.f, j.tmp, j.perm = d, release, f, tmp, perm
	return nil
}

// finish completes a file after its last chunk: its size and metadata,
// then the rename from a temporary name. A file that lost data is ended
// by finishDamaged instead. The caller holds j.mu.
func (r *restorer) finish(j *fileJob) error {
	if len(j.lost) > 0 {
		return r.finishDamaged(j)
	}
	o, n := j.op, j.op.node
	var err error
	if n.Sparse || j.patch { // the size past a final hole, or a file that shrank
		if err := j.f.Truncate(int64(n.Size)); err != nil {
			return wrap(o, err)
		}
	}
	if j.patch {
		err = syncFileMeta(j.f, n)
	} else {
		err = j.dir.setNewFileMeta(j.tmp, n, j.f, j.perm, r.me)
	}
	if err != nil {
		return wrap(o, err)
	}
	if err := j.f.Close(); err != nil {
		return wrap(o, err)
	}
	if j.tmp != n.Name {
		if err := j.dir.rename(j.tmp, n.Name); err != nil {
			return wrap(o, err)
		}
	}
	j.release()
	j.f, j.dir = nil, nil
	r.count(func(res *Result) {
		res.Files++
		res.Bytes += int64(n.Size)
		res.Written += j.written
		if j.patch {
			res.Patched++
		}
	})
	r.opts.Progress.FilesDone.Add(1)
	return nil
}

// abandon removes the temporary file of an unfinished job. A file being
// patched stays: its modification time, which the writes changed, matches
// neither the base nor the snapshot, so the next restore rewrites it whole.
func (j *fileJob) abandon() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		j.f.Close()
		if !j.patch {
			_ = j.dir.remove(j.tmp)
		}
		j.release()
		j.f, j.dir = nil, nil
	}
}
