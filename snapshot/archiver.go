// Package snapshot is the backup engine: it walks a tree, cuts files into
// chunks, deduplicates them against the repository, and writes tree and
// snapshot objects, reusing unchanged files from a parent snapshot.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// ErrIncomplete: a backup saved its snapshot, but some entries could not be
// read and were left out (the snapshot is marked incomplete).
var ErrIncomplete = errors.New("backup is incomplete: some files could not be read")

// maxFailures is how many skipped entries a snapshot lists by name.
const maxFailures = 20

// Options configure one backup.
type Options struct {
	Host           string
	Tags           []string
	Parent         *repository.Snapshot // reuse unchanged files from it (nil: none)
	Force          bool                 // read every file even if unchanged
	Workers        int                  // files read at once (2×GOMAXPROCS if 0)
	ProgramVersion string
	Volume         *repository.VolumeInfo // recorded for a Docker volume backup
	Progress       *Progress              // counters for a display (may be nil)
	// OnError is told about each entry that could not be read and was
	// skipped; OnWarning about files that changed while being read.
	OnError   func(path string, err error)
	OnWarning func(path string, err error)
	// Skip are absolute paths left out of the snapshot, with what is below
	// them (the repository, when it lies inside a path backed up).
	Skip []string
}

// Archiver makes snapshots in one repository.
type Archiver struct {
	repo *repository.Repository
	opts Options
}

// New returns an archiver. The repository must be locked and then its index
// loaded, in that order (see Run).
func New(repo *repository.Repository, opts Options) *Archiver {
	if opts.Workers <= 0 {
		// More readers than cores: reading waits on the disk, and the CPU
		// work of large files runs in the blob savers.
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if opts.OnError == nil {
		opts.OnError = func(string, error) {}
	}
	if opts.OnWarning == nil {
		opts.OnWarning = func(string, error) {}
	}
	return &Archiver{repo: repo, opts: opts}
}

// run is the state of one backup.
type run struct {
	*Archiver
	w     *repository.Writer
	files *fileSaver
	slots chan struct{} // bounds the files read at once

	filesNew, filesChanged, filesUnchanged atomic.Int64
	dirsNew, dirsChanged, dirsUnchanged    atomic.Int64
	totalFiles, totalBytes                 atomic.Int64

	mu       sync.Mutex
	failures []string
	errors   int64
	changed  []string // files that changed while read (the first maxFailures)
	nchanged int64
}

// future is the node of an entry that is still being saved.
type future struct {
	done chan struct{}
	node repository.Node
	skip bool  // the entry could not be read and is left out
	err  error // fatal
}

func resolved(n repository.Node) *future {
	f := &future{done: make(chan struct{}), node: n}
	close(f.done)
	return f
}

// Run backs up paths (absolute or relative directories or files) and saves
// a snapshot. The caller holds a lock on the repository and took it before
// it loaded the index and chose the parent (ErrNotLocked otherwise). Entries
// that cannot be read are reported through OnError and left out; the
// snapshot is then marked incomplete. Any repository error, or ctx being
// cancelled, stops the run without saving a snapshot; the repository stays
// valid and what was uploaded is reused by the next run.
func (a *Archiver) Run(ctx context.Context, paths []string) (*repository.Snapshot, error) {
	start := time.Now()
	if len(paths) == 0 {
		return nil, errors.New("nothing to back up: give at least one path")
	}
	abs := make([]string, len(paths))
	for i, p := range paths {
		ap, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(ap); err != nil {
			return nil, fmt.Errorf("backup source: %w", err)
		}
		abs[i] = ap
	}
	if !a.repo.Locked() {
		return nil, repository.ErrNotLocked
	}

	scanCtx, stopScan := context.WithCancel(ctx)
	defer stopScan()
	go scan(scanCtx, abs, a.opts.Progress)

	w := a.repo.NewWriter(ctx)
	r := &run{Archiver: a, w: w, slots: make(chan struct{}, a.opts.Workers)}
	blobs := newBlobSaver(a.repo, w, runtime.GOMAXPROCS(0), runtime.GOMAXPROCS(0)+2)
	r.files = newFileSaver(a.repo, w, blobs, a.opts.Progress, r.changedWhileRead)

	var prev *parentDir
	if a.opts.Parent != nil {
		prev = r.loadParent(ctx, abs[0], a.opts.Parent.Tree)
	}
	var root *future
	if len(abs) == 1 {
		root = r.saveRoot(ctx, abs[0], prev)
	} else {
		root = r.saveMulti(ctx, abs, prev)
	}
	<-root.done
	blobs.close() // every file has waited for its chunks: nothing is pending
	if root.err == nil && root.skip {
		root.err = errors.New("the backup source could not be read")
	}
	if root.err != nil {
		w.Abort()
		return nil, root.err
	}
	stats, err := w.Finish()
	if err != nil {
		return nil, err
	}
	host := a.opts.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	sn := &repository.Snapshot{
		Time: a.repo.Now(), Host: host, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		Paths: abs, Tags: a.opts.Tags, Tree: *root.node.Subtree, Root: root.node,
		ProgramVersion: a.opts.ProgramVersion, Volume: a.opts.Volume,
	}
	if u, err := user.Current(); err == nil {
		sn.Username = u.Username
	}
	if a.opts.Parent != nil {
		id := a.opts.Parent.ID
		sn.Parent = &id
	}
	sn.Root.Name = ""
	r.mu.Lock()
	sn.Failures, sn.Incomplete, sn.Changed = r.failures, r.errors > 0, r.changed
	sn.Summary = repository.Summary{
		FilesNew: r.filesNew.Load(), FilesChanged: r.filesChanged.Load(), FilesUnchanged: r.filesUnchanged.Load(),
		DirsNew: r.dirsNew.Load(), DirsChanged: r.dirsChanged.Load(), DirsUnchanged: r.dirsUnchanged.Load(),
		TotalFiles: r.totalFiles.Load(), TotalBytes: r.totalBytes.Load(),
		BytesRead: a.opts.Progress.BytesRead.Load(), BlobsAdded: stats.BlobsAdded,
		BytesAdded: stats.BytesAdded, StoredAdded: stats.StoredBytes, Errors: r.errors, ChangedWhileRead: r.nchanged,
		DurationSecond: time.Since(start).Seconds(),
	}
	r.mu.Unlock()
	// The data this snapshot names is safe from a prune only while the
	// lock holds: a lost lock means it may not be.
	if err := a.repo.CheckLocks(ctx); err != nil {
		return nil, err
	}
	if _, err := a.repo.SaveSnapshot(ctx, sn); err != nil {
		return nil, err
	}
	return sn, nil
}

func (a *Archiver) warn(path string, err error) { a.opts.OnWarning(path, err) }

// changedWhileRead records a file that changed while it was read, in the
// snapshot (so that `snapshots` shows it), and reports it.
func (r *run) changedWhileRead(path string, err error) {
	r.mu.Lock()
	r.nchanged++
	if len(r.changed) < maxFailures {
		r.changed = append(r.changed, path)
	}
	r.mu.Unlock()
	r.warn(path, err)
}

func (r *run) fail(path string, err error) {
	r.opts.Progress.Errors.Add(1)
	r.mu.Lock()
	r.errors++
	if len(r.failures) < maxFailures {
		r.failures = append(r.failures, fmt.Sprintf("%s: %v", path, err))
	}
	r.mu.Unlock()
	r.opts.OnError(path, err)
}

func (r *run) saveRoot(ctx context.Context, path string, parent *parentDir) *future {
	n, err := lstatNode(path, filepath.Base(path))
	if err != nil {
		return &future{done: closed(), err: err}
	}
	if n.Type != repository.TypeDir {
		// A single file or symlink: a root directory holding just it.
		return r.saveMulti(ctx, []string{path}, parent)
	}
	return r.saveDir(ctx, path, n, parent)
}

// saveMulti makes a synthetic root directory that holds each path under its
// base name.
func (r *run) saveMulti(ctx context.Context, paths []string, parent *parentDir) *future {
	seen := map[string]bool{}
	var kids []*future
	for _, p := range paths {
		name := filepath.Base(p)
		if seen[name] {
			return &future{done: closed(), err: fmt.Errorf("two backup paths share the name %q", name)}
		}
		seen[name] = true
		kids = append(kids, r.saveEntry(ctx, p, name, parent))
	}
	root := repository.Node{Type: repository.TypeDir, Mode: 0o755, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), ModTime: time.Now().UnixNano()}
	return r.finishDir(root, parent, kids)
}

// saveEntry starts saving one directory entry.
func (r *run) saveEntry(ctx context.Context, path, name string, parent *parentDir) *future {
	n, err := lstatNode(path, name)
	if err != nil {
		r.fail(path, err)
		return &future{done: closed(), skip: true}
	}
	return r.saveNode(ctx, path, n, parent)
}

// saveNode starts saving an entry whose node is known.
func (r *run) saveNode(ctx context.Context, path string, n repository.Node, parent *parentDir) *future {
	prev := parent.find(n.Name)
	switch n.Type {
	case repository.TypeDir:
		var sub *parentDir
		if prev != nil && prev.Type == repository.TypeDir && prev.Subtree != nil {
			sub = r.loadParent(ctx, path, *prev.Subtree)
		}
		return r.saveDir(ctx, path, n, sub)
	case repository.TypeFile:
		r.totalFiles.Add(1)
		r.totalBytes.Add(int64(n.Size))
		return r.saveFile(ctx, path, n, prev)
	}
	return resolved(n)
}

func unchanged(n, prev *repository.Node) bool {
	return prev != nil && prev.Type == repository.TypeFile && n.Size == prev.Size &&
		n.ModTime == prev.ModTime && n.ChangeTime == prev.ChangeTime && n.Inode == prev.Inode
}

func (r *run) saveFile(ctx context.Context, path string, n repository.Node, prev *repository.Node) *future {
	p := r.opts.Progress
	if !r.opts.Force && unchanged(&n, prev) && r.allIndexed(prev.Content) {
		n.Content = prev.Content
		r.filesUnchanged.Add(1)
		p.FilesDone.Add(1)
		p.BytesDone.Add(int64(n.Size))
		return resolved(n)
	}
	f := &future{done: make(chan struct{})}
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		f.err = ctx.Err()
		close(f.done)
		return f
	}
	go func() {
		defer close(f.done)
		defer func() { <-r.slots }()
		var prevContent []pack.ID
		if prev != nil && prev.Type == repository.TypeFile && !r.opts.Force {
			prevContent = prev.Content
		}
		err := r.files.save(ctx, path, &n, prevContent)
		var fe fatal
		switch {
		case errors.As(err, &fe):
			f.err = fe.err
			return
		case ctx.Err() != nil:
			f.err = ctx.Err()
			return
		case err != nil:
			r.fail(path, err)
			f.skip = true
			return
		}
		if prev != nil {
			r.filesChanged.Add(1)
		} else {
			r.filesNew.Add(1)
		}
		p.FilesDone.Add(1)
		f.node = n
	}()
	return f
}

func (r *run) allIndexed(ids []pack.ID) bool {
	for _, id := range ids {
		if !r.repo.Index().Has(pack.DataBlob, id) {
			return false
		}
	}
	return true
}

// saveDir walks a directory now and saves its tree once every entry is done.
func (r *run) saveDir(ctx context.Context, path string, n repository.Node, parent *parentDir) *future {
	names, err := readDirNames(path)
	if err != nil {
		r.fail(path, err)
		return &future{done: closed(), skip: true}
	}
	// Start this directory's files before walking into its subdirectories,
	// so that a large file near the top starts early and overlaps with the
	// many small ones below instead of finishing alone at the end. The tree
	// keeps name order: each entry has its slot.
	kids := make([]*future, len(names))
	nodes := make([]repository.Node, len(names))
	for i, name := range names {
		p := filepath.Join(path, name)
		if slices.Contains(r.opts.Skip, p) {
			kids[i] = &future{done: closed(), skip: true}
			continue
		}
		node, err := lstatNode(p, name)
		if err != nil {
			r.fail(p, err)
			kids[i] = &future{done: closed(), skip: true}
			continue
		}
		nodes[i] = node
		if node.Type != repository.TypeDir && ctx.Err() == nil {
			kids[i] = r.saveNode(ctx, p, node, parent)
		}
	}
	for i, name := range names {
		if kids[i] == nil && ctx.Err() == nil {
			kids[i] = r.saveNode(ctx, filepath.Join(path, name), nodes[i], parent)
		}
	}
	for i := range kids {
		if kids[i] == nil { // cancelled
			kids[i] = &future{done: closed(), err: ctx.Err()}
		}
	}
	return r.finishDir(n, parent, kids)
}

func (r *run) finishDir(n repository.Node, parent *parentDir, kids []*future) *future {
	f := &future{done: make(chan struct{}), node: n}
	go func() {
		defer close(f.done)
		tree := &repository.Tree{}
		for _, k := range kids {
			<-k.done
			if k.err != nil && f.err == nil {
				f.err = k.err
			}
			if !k.skip {
				tree.Nodes = append(tree.Nodes, k.node)
			}
		}
		if f.err != nil {
			return
		}
		id, err := r.w.SaveTree(tree)
		if err != nil {
			f.err = err
			return
		}
		f.node.Subtree = &id
		switch {
		case parent == nil:
			r.dirsNew.Add(1)
		case parent.id == id:
			r.dirsUnchanged.Add(1)
		default:
			r.dirsChanged.Add(1)
		}
	}()
	return f
}
