// Package restore rebuilds files, directories and their metadata from a
// snapshot into a target directory.
//
// Nothing appears under a real name before it is complete. An empty target
// is filled through a hidden staging directory inside it: the snapshot is
// restored (and verified, if asked) there, and its top-level entries are
// renamed into the target at the end; a failed restore removes the staging
// directory, and one left by a killed restore is removed by the next
// restore into that target (in any mode). Publication starts by renaming the
// staging directory to a publishing name that identifies the restore (the
// snapshot and the selection): a restore killed while it moves entries out
// leaves that directory, and the next restore into the target moves the rest
// in before anything else. If that next restore is the same one, it then has
// nothing left to do. In a target that already has entries (the
// overwrite modes), each file is written under a temporary name beside its
// final one and renamed into place when complete.
//
// Nothing is written outside the target: entries are created relative to
// directory descriptors opened through os.Root, with names that the tree
// decoder has checked, never following a final symlink.
package restore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// Overwrite says what to do with entries that exist in the target.
type Overwrite string

// Overwrite modes. The zero value refuses a target that is not empty.
const (
	OverwriteRefuse    Overwrite = ""
	OverwriteAlways    Overwrite = "always"     // replace existing files
	OverwriteIfChanged Overwrite = "if-changed" // replace files whose size or mtime differ
	OverwriteNever     Overwrite = "never"      // keep existing entries
)

// ParseOverwrite checks a user's --overwrite value.
func ParseOverwrite(s string) (Overwrite, error) {
	switch o := Overwrite(s); o {
	case OverwriteRefuse, OverwriteAlways, OverwriteIfChanged, OverwriteNever:
		return o, nil
	}
	return "", fmt.Errorf("--overwrite must be always, if-changed or never, not %q", s)
}

// ErrOptions: the options are invalid or contradict each other (a usage
// error).
var ErrOptions = errors.New("restore options")

// ErrNothingSelected: no path of the snapshot matches the include
// patterns; nothing was restored.
var ErrNothingSelected = errors.New("no path of the snapshot matches --include")

// ErrTargetNotEmpty: the target has entries and no overwrite mode was given.
var ErrTargetNotEmpty = errors.New("restore target is not empty")

// Hidden names the restore works under.
const (
	tempPrefix       = ".lifeboat-restore-"    // a file replacing an existing entry
	stagingPrefix    = ".lifeboat-staging-"    // an empty target's content until it is complete
	publishingPrefix = ".lifeboat-publishing-" // complete content being moved into the target
)

// Options configure a restore.
type Options struct {
	Selector
	Overwrite Overwrite
	// Delete makes the target equal to the snapshot: entries the snapshot
	// does not hold are removed. It needs Overwrite always or if-changed
	// (with never, kept files could differ) and no Selector.
	Delete bool
	// Base, if set, is the snapshot the target is believed to hold (an
	// earlier restore into it): a delta restore. It needs Overwrite
	// if-changed and Delete. A file whose size and modification time are
	// still those Base gives it is taken to hold Base's content and is
	// patched in place: only the chunks at offsets where the snapshot
	// differs from Base are written. A file that matches neither is
	// rewritten whole, as without Base. With Verify, the files the
	// restore wrote or patched are read back (the others it did not touch).
	Base   *repository.Snapshot
	Verify bool // read every restored file back and check it
	// KeepDamaged writes a file whose data is partly lost as
	// NAME.lifeboat-damaged, the lost ranges left as zeros, instead of
	// leaving it out.
	KeepDamaged bool
	Workers     int // files written at once (2×GOMAXPROCS if 0)
	Progress    *Progress
	// batch, if more than 0, is how many operations a batch holds instead
	// of batchOps (for tests).
	batch int
	// beforeVerify, if set, runs between the writes and their check (for
	// tests that damage what was written).
	beforeVerify func(root *os.Root)
}

// Progress counters for a display; safe for concurrent use. The totals
// grow as the restore plans its batches; PlanDone says they are complete.
type Progress struct {
	TotalFiles, TotalBytes atomic.Int64
	FilesDone, BytesDone   atomic.Int64
	PlanDone               atomic.Bool
}

// Result counts what a restore did.
type Result struct {
	Files int64 `json:"files"`
	Dirs  int64 `json:"dirs"`
	Links int64 `json:"hard_links"`
	// LinkBytes is the size of the hard-linked names (counted once per
	// name, as the snapshot's total does; no bytes are written for them).
	LinkBytes int64 `json:"hard_link_bytes"`
	Others    int64 `json:"others"` // symlinks, fifos, devices, sockets
	Bytes     int64 `json:"bytes"`
	Skipped   int64 `json:"skipped"` // existing entries kept by the overwrite mode
	// Patched files were brought up to date by writing only the chunks
	// that differ from Base (they count in Files and Bytes too).
	Patched int64 `json:"patched,omitempty"`
	// Renamed files of the base were moved to the new name under which the
	// snapshot has their content (a rotated log, a recycled segment),
	// instead of it being written again; they count in Skipped too.
	Renamed int64 `json:"renamed,omitempty"`
	// Written is the number of bytes written into the files finished (less
	// than Bytes when files were patched).
	Written  int64 `json:"bytes_written"`
	Verified int64 `json:"verified"`
	Deleted  int64 `json:"deleted"` // entries removed by Delete (a directory counts once)
	// Damaged lists (up to 10,000 of DamagedCount) the paths that were left
	// out, or kept under a damaged name, because their data is damaged or
	// lost in the repository; the restore then ends with ErrIncomplete.
	Damaged      []Damage `json:"damaged,omitempty"`
	DamagedCount int64    `json:"damaged_count,omitempty"`
	// Finished is set when the target already held this restore, complete,
	// from a run that was killed while it published it: this run moved
	// the last entries into place (and verified them, if asked).
	Finished bool `json:"finished_interrupted,omitempty"`
}

type opKind int

const (
	opDir opKind = iota
	opFile
	opLink // hard link to an earlier file
	opOther
	opDirDone // after a directory's content: its metadata
)

type op struct {
	kind opKind
	dir  string // parent directory, relative to the target ("" is the target)
	node *repository.Node
	// base is the regular file at the same path in Options.Base, if any.
	base *repository.Node
	// touched: the restore wrote or patched the file (not kept as it was).
	touched bool
	// kept maps the offsets of a patched file's chunks that were already
	// there (as the base had them) to their ids: not written, not verified.
	kept map[int64]pack.ID
	// for opLink: the first file of the inode (first is nil in a received
	// stream)
	linkDir, linkName string
	first             *op
	// damaged: the file's data is damaged or lost in the repository; it
	// was left out, or written as keptAs.
	damaged bool
	keptAs  string
	// names, for an opDir with Options.Delete: the directory's entries in
	// the snapshot, by name, with their types.
	names map[string]string
	// renames, for an opDir with Options.Delete: files the base had under
	// a name the snapshot lacks, whose content a new name of the snapshot
	// has (reused, see reusable).
	renames []rename
	emitted bool // an opDir handed over (something under it is selected)
}

func (o *op) rel() string { return path.Join(o.dir, o.node.Name) }

type restorer struct {
	repo *repository.Repository
	root *os.Root // where entries are written: the target or its staging directory
	// staged: root is a fresh staging directory, so files are created
	// under their final names and nothing in it exists beforehand.
	staged  bool
	opts    Options
	res     Result
	mu      sync.Mutex
	links   map[[2]uint64]*op
	dirs    *dirCache
	tempSeq atomic.Uint64 // numbers temporary file names
	// umask is the process's file mode creation mask, if umaskKnown.
	umask      uint32
	umaskKnown bool
	me         owner // the process's effective user and group
}

// Validate checks the options on their own, before anything is read or
// written; every error wraps ErrOptions.
func (o Options) Validate() error {
	if err := o.Selector.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if o.Delete && (o.Overwrite != OverwriteAlways && o.Overwrite != OverwriteIfChanged) {
		return fmt.Errorf("%w: --delete needs --overwrite always or if-changed: it makes the target equal to the snapshot", ErrOptions)
	}
	if o.Base != nil && (o.Overwrite != OverwriteIfChanged || !o.Delete) {
		return fmt.Errorf("%w: a delta restore (--base) needs --overwrite if-changed and --delete: it brings a copy of the base snapshot up to date", ErrOptions)
	}
	if o.Delete && (len(o.Include) > 0 || len(o.Exclude) > 0) {
		return fmt.Errorf("%w: --delete cannot be combined with --include or --exclude: it makes the whole target equal to the snapshot", ErrOptions)
	}
	return nil
}

// Run restores sn into target, creating target if needed.
func Run(ctx context.Context, repo *repository.Repository, sn *repository.Snapshot, target string, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Workers <= 0 {
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if opts.Progress == nil {
		opts.Progress = &Progress{}
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, fmt.Errorf("restore target: %w", err)
	}
	troot, err := os.OpenRoot(target)
	if err != nil {
		return nil, fmt.Errorf("restore target: %w", err)
	}
	defer troot.Close()
	r := &restorer{repo: repo, root: troot, opts: opts, links: map[[2]uint64]*op{}}
	r.umask, r.umaskKnown = umask()
	r.me = owner{uint32(os.Geteuid()), uint32(os.Getegid())}
	job := publishingName(sn, opts.Selector)
	finished, err := finishPublishing(troot, target)
	if err != nil {
		return nil, err
	}
	if opts.Overwrite == OverwriteRefuse && finished[job] && len(finished) == 1 {
		return r.finished(ctx, troot, target, sn)
	}
	if err := clearStaging(troot, target, opts.Overwrite == OverwriteRefuse); err != nil {
		return nil, err
	}
	staging := ""
	if opts.Overwrite == OverwriteRefuse {
		if staging, err = makeStaging(troot); err != nil {
			return nil, fmt.Errorf("restore target: %w", err)
		}
		defer func() {
			if staging != "" { // not published: failed or interrupted
				_ = troot.RemoveAll(staging)
			}
		}()
		if r.root, err = troot.OpenRoot(staging); err != nil {
			return nil, fmt.Errorf("restore target: %w", err)
		}
		defer r.root.Close()
		r.staged = true
	}
	r.dirs = newDirCache(r.root, 256)
	defer r.dirs.close()

	var base *pack.ID
	if opts.Base != nil {
		base = &opts.Base.Tree
	}
	var top []string // the target's top-level entries, to publish
	out := &emitter{size: r.batchSize(), flush: func(ops []*op) error {
		if err := r.runBatch(ctx, troot, ops); err != nil {
			return err
		}
		for _, o := range ops {
			switch {
			case o.dir != "" || o.kind == opDirDone:
			case o.keptAs != "":
				top = append(top, o.keptAs)
			case !o.damaged:
				top = append(top, o.node.Name)
			}
		}
		return nil
	}}
	if err := r.plan(ctx, nil, sn.Tree, base, "", len(opts.Include) == 0, out); err != nil {
		return &r.res, err
	}
	opts.Progress.PlanDone.Store(true)
	if err := out.done(); err != nil {
		return &r.res, err
	}
	if res := r.res; len(opts.Include) > 0 && res.Files+res.Dirs+res.Links+res.Others+res.Skipped+res.DamagedCount == 0 {
		return &r.res, fmt.Errorf("%w %q (patterns with a slash match from the snapshot's root, as /etc/*.conf; lifeboat ls lists its paths)", ErrNothingSelected, opts.Include)
	}
	if r.staged {
		if err := r.publish(troot, staging, job, top); err != nil {
			return &r.res, err
		}
		staging = ""
	}
	if len(opts.Include) == 0 {
		if err := rootMeta(troot, target, &sn.Root); err != nil {
			return &r.res, err
		}
	}
	return &r.res, r.res.incomplete()
}

// batchOps is how many operations a restore plans before it carries them
// out: with the trees of the directories they are in, they are what a
// restore holds in memory, so memory stays flat whatever the number of
// files.
const batchOps = 32768

// emitter collects the operations of the walk and hands them over in
// batches, in walk order. A directory's operation is held back until
// something under it is selected (or it is itself), then handed over
// before it.
type emitter struct {
	pending []*op // directories entered whose op is not handed over yet
	batch   []*op
	size    int // operations a batch holds
	flush   func([]*op) error
}

func (e *emitter) emit(o *op) error {
	for _, d := range e.pending {
		d.emitted = true
		e.batch = append(e.batch, d)
	}
	e.pending = e.pending[:0]
	if o != nil {
		e.batch = append(e.batch, o)
	}
	if len(e.batch) < e.size {
		return nil
	}
	return e.done()
}

// done hands over what is collected.
func (e *emitter) done() error {
	if len(e.batch) == 0 {
		return nil
	}
	b := e.batch
	e.batch = nil
	return e.flush(b)
}

func (r *restorer) batchSize() int {
	if r.opts.batch > 0 {
		return r.opts.batch
	}
	return batchOps
}

// runBatch carries out one batch: extra entries removed (Delete),
// directories made, contents written, links and other entries made, the
// metadata of the directories whose content is complete applied (deepest
// first, as the walk ends them), and what was written verified.
func (r *restorer) runBatch(ctx context.Context, troot *os.Root, ops []*op) error {
	if r.opts.Delete {
		if err := r.deleteExtra(troot, ops); err != nil {
			return err
		}
	}
	if err := r.execute(ctx, ops); err != nil {
		return err
	}
	if r.opts.Verify {
		if r.opts.beforeVerify != nil {
			r.opts.beforeVerify(r.root)
		}
		return r.verify(ctx, ops)
	}
	return nil
}

// plan walks the directory of self (nil: the snapshot's root) and hands
// its operations to out in pre-order, each directory's before its content
// and an opDirDone after it. Only what is selected is handed over; a
// directory is when anything under it is. base, if not nil, is the same
// directory in Options.Base, walked alongside to find each file's base.
// The tree is loaded before self is handed over, so that its entries
// (self.names) are known when the batch holding self is carried out.
func (r *restorer) plan(ctx context.Context, self *op, tree pack.ID, base *pack.ID, rel string, included bool, out *emitter) error {
	t, err := r.repo.LoadTree(ctx, tree)
	if self != nil && repository.IsLost(err) {
		r.lostTree(rel, err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot directory /%s: %w", rel, err)
	}
	var inBase map[string]*repository.Node
	var bt *repository.Tree
	if base != nil {
		bt = t // the directory did not change since the base: no second load
		if *base != tree {
			bt, err = r.repo.LoadTree(ctx, *base)
			switch {
			case repository.IsLost(err): // nothing to patch from: files are written whole
				bt = &repository.Tree{}
			case err != nil:
				return fmt.Errorf("base snapshot directory /%s: %w", rel, err)
			}
		}
		inBase = make(map[string]*repository.Node, len(bt.Nodes))
		for i := range bt.Nodes {
			inBase[bt.Nodes[i].Name] = &bt.Nodes[i]
		}
	}
	if r.opts.Delete {
		names := make(map[string]string, len(t.Nodes))
		for i := range t.Nodes {
			names[t.Nodes[i].Name] = t.Nodes[i].Type
		}
		var renames []rename
		if bt != nil && !r.staged {
			renames = reusable(t, bt, inBase)
		}
		if self == nil { // the target itself: nothing to make, its extras go first
			if err := r.deleteExtraIn(r.root, "", names, renames); err != nil {
				return err
			}
		} else {
			self.names, self.renames = names, renames
		}
	}
	if self != nil {
		out.pending = append(out.pending, self)
		if included {
			if err := out.emit(nil); err != nil {
				return err
			}
		}
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := path.Join(rel, n.Name)
		if r.opts.Excluded("/" + p) {
			continue
		}
		inc := included || r.opts.Included("/"+p)
		if n.Type == repository.TypeDir {
			var subBase *pack.ID
			if b := inBase[n.Name]; b != nil && b.Type == repository.TypeDir {
				subBase = b.Subtree
			}
			if err := r.plan(ctx, &op{kind: opDir, dir: rel, node: n}, *n.Subtree, subBase, p, inc, out); err != nil {
				return err
			}
			continue
		}
		if !inc {
			continue
		}
		o := &op{kind: opOther, dir: rel, node: n}
		if n.Type == repository.TypeFile {
			o.kind = opFile
			if b := inBase[n.Name]; b != nil && b.Type == repository.TypeFile {
				o.base = b
			}
			if n.Links > 1 {
				key := [2]uint64{n.Device, n.Inode}
				if first, ok := r.links[key]; ok {
					o.kind, o.linkDir, o.linkName, o.first = opLink, first.dir, first.node.Name, first
				} else {
					r.links[key] = o
				}
			}
			if o.kind == opFile {
				r.opts.Progress.TotalFiles.Add(1)
				r.opts.Progress.TotalBytes.Add(int64(n.Size))
			}
		}
		if err := out.emit(o); err != nil {
			return err
		}
	}
	if self == nil {
		return nil
	}
	if !self.emitted { // nothing under it selected: it was never handed over
		out.pending = out.pending[:len(out.pending)-1]
		return nil
	}
	return out.emit(&op{kind: opDirDone, dir: self.dir, node: self.node})
}

func (r *restorer) execute(ctx context.Context, ops []*op) error {
	// Directories first, in order, so that every parent exists.
	for _, o := range ops {
		if o.kind == opDir {
			if err := r.makeDir(o); err != nil {
				return err
			}
		}
	}
	// File contents in parallel.
	var files []*op
	for _, o := range ops {
		if o.kind == opFile {
			files = append(files, o)
		}
	}
	if err := r.restoreContents(ctx, files); err != nil {
		return err
	}
	// Then links, symlinks and special files, which need their targets.
	for _, o := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		switch {
		case o.kind == opLink && o.first != nil && o.first.damaged:
			r.lostLink(o)
		case o.kind == opLink:
			err = r.makeLink(o)
		case o.kind == opOther:
			err = r.makeOther(o)
		}
		if err != nil {
			return err
		}
	}
	// The metadata of directories whose content is complete last, deepest
	// first, so that writing into a directory does not change its mtime
	// afterwards.
	for _, o := range ops {
		if o.kind == opDirDone {
			if err := r.dirMeta(o); err != nil {
				return err
			}
		}
	}
	return nil
}

func wrap(o *op, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("restore /%s: %w", o.rel(), err)
}
