package restore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/lifeboat-backup/lifeboat/internal/wire"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// Receive makes target, a directory that exists, equal to the tree that a
// direct-copy stream from snapshot.Send describes (package wire): entries
// of another kind, and entries the stream lacks, are removed; a regular
// file with one name is patched in place with the blocks that travelled,
// anything else written anew; every file is read back and compared with
// the source's hash before its metadata is set. Meanwhile it writes to
// sigs the signature of each regular file target holds, in the stream's
// order, so that the source sends only the blocks that differ. Nothing but
// the target is written: no temporary copy, whatever the volume's size.
//
// A run that stops half way leaves a target that the next run completes;
// the source's data is never at stake (the target is a copy).
func Receive(ctx context.Context, target string, in io.Reader, sigs io.Writer) (*Result, error) {
	troot, err := os.OpenRoot(target)
	if err != nil {
		return nil, fmt.Errorf("direct copy target: %w", err)
	}
	defer troot.Close()
	r := &restorer{root: troot, opts: Options{Overwrite: OverwriteAlways, Delete: true, Progress: &Progress{}}, links: map[[2]uint64]*op{}}
	r.umask, r.umaskKnown = umask()
	r.me = owner{uint32(os.Geteuid()), uint32(os.Getegid())}
	r.dirs = newDirCache(troot, 256)
	defer r.dirs.close()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(4*wire.BlockSize))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	signed := make(chan error, 1)
	go func() { signed <- sign(ctx, troot, wire.NewWriter(sigs)) }()
	rc := &receiver{r: r, in: wire.NewReader(in), dec: dec, target: target}
	if err := rc.run(ctx); err != nil {
		return &r.res, err
	}
	if err := <-signed; err != nil {
		return &r.res, err
	}
	return &r.res, nil
}

// sign writes a signature of each regular file with one name under root,
// in the canonical order, then End. It is best effort: an entry it cannot
// read (the receiver may be removing it) gets no signature, and the source
// then sends it whole. It runs ahead of the receiver: a file is written
// only after the source has its signature, or has seen the signatures
// pass its path.
func sign(ctx context.Context, root *os.Root, w *wire.Writer) error {
	buf := make([]byte, wire.BlockSize)
	var walk func(rel string) error
	walk = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := openDir(root, rel)
		if err != nil {
			return nil
		}
		defer d.close()
		names, err := d.f.Readdirnames(-1)
		if err != nil {
			return nil
		}
		sort.Strings(names)
		for _, name := range names {
			st, err := d.lstat(name)
			if err != nil {
				continue
			}
			p := path.Join(rel, name)
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				if err := walk(p); err != nil {
					return err
				}
			case unix.S_IFREG:
				if st.Nlink != 1 {
					continue // never patched: another name would see it
				}
				if m, ok := signFile(d, name, p, buf); ok {
					if err := w.Frame(wire.Sig, wire.EncodeSig(m)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return err
	}
	if err := w.Frame(wire.End); err != nil {
		return err
	}
	return w.Flush()
}

func signFile(d *dirHandle, name, p string, buf []byte) (wire.SigMsg, bool) {
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return wire.SigMsg{}, false
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	m := wire.SigMsg{Path: p}
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			m.Blocks = append(m.Blocks, wire.HashBlock(buf[:n]))
			m.Size += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return m, true
		}
		if err != nil {
			return wire.SigMsg{}, false
		}
	}
}

// receiver applies a stream to the target.
type receiver struct {
	r      *restorer
	in     *wire.Reader
	dec    *zstd.Decoder
	target string
	root   repository.Node
	open   []*entered // the root first; the directory entries go into last
}

type entered struct {
	rel  string
	op   *op               // nil for the root
	seen map[string]string // names the stream gave it, with their types
}

func (rc *receiver) run(ctx context.Context) error {
	rc.open = []*entered{{seen: map[string]string{}}}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		kind, payload, err := rc.in.Next()
		if err != nil {
			return fmt.Errorf("from the source: %w", err)
		}
		switch kind {
		case wire.Root:
			if err := json.Unmarshal(payload, &rc.root); err != nil {
				return fmt.Errorf("%w: root: %v", wire.ErrStream, err)
			}
		case wire.Entry:
			var m wire.EntryMsg
			if err := json.Unmarshal(payload, &m); err != nil {
				return fmt.Errorf("%w: entry: %v", wire.ErrStream, err)
			}
			if err := rc.entry(&m); err != nil {
				return err
			}
		case wire.DirEnd:
			if len(rc.open) < 2 {
				return fmt.Errorf("%w: a directory ends that did not begin", wire.ErrStream)
			}
			d := rc.open[len(rc.open)-1]
			rc.open = rc.open[:len(rc.open)-1]
			if err := rc.r.deleteExtraIn(rc.r.root, d.rel, d.seen, nil); err != nil {
				return err
			}
			if err := rc.r.dirMeta(d.op); err != nil {
				return err
			}
		case wire.End:
			if len(rc.open) != 1 || rc.root.Type != repository.TypeDir {
				return fmt.Errorf("%w: ended inside a directory, or without its root", wire.ErrStream)
			}
			if err := rc.r.deleteExtraIn(rc.r.root, "", rc.open[0].seen, nil); err != nil {
				return err
			}
			return rootMeta(rc.r.root, rc.target, &rc.root)
		default:
			return fmt.Errorf("%w: unexpected frame %q", wire.ErrStream, kind)
		}
	}
}

func (rc *receiver) entry(m *wire.EntryMsg) error {
	cur := rc.open[len(rc.open)-1]
	n := m.Node
	if string(m.Dir) != cur.rel || n.Name == "" || n.Name == "." || n.Name == ".." || strings.ContainsRune(n.Name, '/') {
		return fmt.Errorf("%w: entry %q in %q, expected in %q", wire.ErrStream, n.Name, m.Dir, cur.rel)
	}
	cur.seen[n.Name] = n.Type
	o := &op{dir: cur.rel, node: &n}
	if err := rc.clearOtherKind(o); err != nil {
		return err
	}
	switch {
	case n.Type == repository.TypeDir:
		o.kind = opDir
		if err := rc.r.makeDir(o); err != nil {
			return err
		}
		rc.open = append(rc.open, &entered{rel: o.rel(), op: o, seen: map[string]string{}})
		return nil
	case n.Type == repository.TypeFile && m.Link != nil:
		o.kind, o.linkDir, o.linkName = opLink, path.Dir(string(m.Link)), path.Base(string(m.Link))
		if o.linkDir == "." {
			o.linkDir = ""
		}
		return rc.r.makeLink(o)
	case n.Type == repository.TypeFile:
		return rc.file(o)
	default:
		return rc.r.makeOther(o)
	}
}

// clearOtherKind removes what is at o's name if it is a directory and o is
// not, or the other way round (a symlink counts as not a directory).
func (rc *receiver) clearOtherKind(o *op) error {
	d, release, err := rc.r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	st, err := d.lstat(o.node.Name)
	release()
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return wrap(o, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir == (o.node.Type == repository.TypeDir) {
		return nil
	}
	if err := rc.r.root.RemoveAll(o.rel()); err != nil {
		return wrap(o, err)
	}
	rc.r.count(func(res *Result) { res.Deleted++ })
	return nil
}

// file writes a regular file's blocks as they come: into the file there
// if it is a regular file with one name (the blocks that did not travel
// are already right), else into a new one.
func (rc *receiver) file(o *op) error {
	d, release, err := rc.r.dirs.get(o.dir)
	if err != nil {
		return wrap(o, err)
	}
	defer release()
	name := o.node.Name
	st, err := d.lstat(name)
	patch := err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1
	var f *os.File
	if patch {
		f, err = d.openForPatch(name)
	} else {
		if err == nil {
			_ = d.remove(name) // a symlink, a special file, or a hard link
		}
		f, err = d.create(name, 0o600)
	}
	if err != nil {
		return wrap(o, err)
	}
	defer f.Close()
	var written int64
	for {
		kind, payload, err := rc.in.Next()
		if err != nil {
			return wrap(o, fmt.Errorf("from the source: %w", err))
		}
		switch kind {
		case wire.Data:
			off, rest, err := wire.Uvarint(payload)
			if err != nil {
				return wrap(o, err)
			}
			data, err := rc.dec.DecodeAll(rest, nil)
			if err != nil || len(data) > wire.BlockSize {
				return wrap(o, fmt.Errorf("%w: a block that does not decode", wire.ErrStream))
			}
			if err := writeSparse(f, data, int64(off), patch); err != nil { // zero pages stay holes
				return wrap(o, err)
			}
			written += int64(len(data))
		case wire.Zero:
			off, rest, err := wire.Uvarint(payload)
			if err != nil {
				return wrap(o, err)
			}
			n, _, err := wire.Uvarint(rest)
			if err != nil {
				return wrap(o, err)
			}
			if patch {
				if err := punchHole(f, int64(off), int64(n)); err != nil {
					return wrap(o, err)
				}
			}
		case wire.FileEnd:
			size, sum, err := wire.Uvarint(payload)
			if err != nil || len(sum) != 32 {
				return wrap(o, fmt.Errorf("%w: a bad file end", wire.ErrStream))
			}
			if err := f.Truncate(int64(size)); err != nil {
				return wrap(o, err)
			}
			if err := sameContent(d, name, sum); err != nil {
				return wrap(o, err)
			}
			rc.r.count(func(res *Result) {
				res.Files++
				res.Bytes += int64(size)
				res.Written += written
				res.Verified++
				if patch {
					res.Patched++
				}
			})
			return wrap(o, syncFileMeta(f, o.node))
		default:
			return wrap(o, fmt.Errorf("%w: unexpected frame %q in a file", wire.ErrStream, kind))
		}
	}
}

// sameContent reads the file back and compares its hash with the source's.
func sameContent(d *dirHandle, name string, sum []byte) error {
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if !bytes.Equal(h.Sum(nil), sum) {
		return errors.New("verify: the content differs from the source's")
	}
	return nil
}
