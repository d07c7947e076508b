package snapshot

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	"github.com/lifeboat-backup/lifeboat/internal/wire"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/zeebo/blake3"
)

// SendStats counts what Send read and sent.
type SendStats struct {
	Files, Dirs, Others int
	Bytes               int64 // content of the regular files
	Sent                int64 // frame bytes written (what travelled)
	Unchanged           int64 // content bytes the destination already had
	// Vanished counts entries removed while Send read their directory (a
	// volume in use, read without awaitGo): left out, or a file sent empty
	// if it went after its entry was sent; a later copy brings them up to
	// date. With awaitGo nothing may vanish: it is an error.
	Vanished int
}

// Send writes the tree at root to out as a direct-copy stream (package
// wire), reading the destination's signatures from sigs as it goes: a
// block of a regular file whose hash the destination has at the same
// offset of the same path does not travel. Memory holds one directory's
// names and one file's signature; nothing is written to disk.
//
// With awaitGo the first frame on sigs must be wire.Go, and nothing is read
// under root before it has come: the caller starts the sender ahead of the
// moment the volume is to be read, once its users no longer write, so an
// entry that vanishes while it is read fails the copy. Without, the volume
// may be in use (a live round): vanished entries are counted, not errors.
func Send(ctx context.Context, root string, out io.Writer, sigs io.Reader, awaitGo bool) (*SendStats, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	cw := &countingWriter{w: out}
	s := &sender{ctx: ctx, w: wire.NewWriter(cw), sigs: wire.NewReader(sigs), enc: enc, links: map[[2]uint64]string{},
		buf: make([]byte, wire.BlockSize), st: &SendStats{}, inUse: !awaitGo}
	if awaitGo {
		kind, _, err := s.sigs.Next()
		if err != nil {
			return nil, fmt.Errorf("waiting for the go-ahead: %w", err)
		}
		if kind != wire.Go {
			return nil, fmt.Errorf("%w: frame %q before the go-ahead", wire.ErrStream, kind)
		}
	}
	rootNode, err := lstatNode(root, "")
	if err != nil {
		return nil, err
	}
	if rootNode.Type != repository.TypeDir {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	b, err := json.Marshal(rootNode)
	if err != nil {
		return nil, err
	}
	if err := s.w.Frame(wire.Root, b); err != nil {
		return nil, err
	}
	if err := s.dir(root, ""); err != nil {
		return nil, err
	}
	if err := s.w.Frame(wire.End); err != nil {
		return nil, err
	}
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	// The rest of the signatures (of entries the source lacks), so that
	// the destination's signer ends.
	for !s.sigDone {
		if _, err := s.nextSig(); err != nil {
			return nil, err
		}
	}
	s.st.Sent = cw.n
	return s.st, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type sender struct {
	ctx   context.Context
	w     *wire.Writer
	sigs  *wire.Reader
	enc   *zstd.Encoder
	links map[[2]uint64]string // first names of hard-linked files
	buf   []byte
	st    *SendStats
	// The destination's next signature (nil: none read yet), and whether
	// its stream has ended.
	sig     *wire.SigMsg
	sigDone bool
	// inUse: the volume may change while it is read (see Vanished).
	inUse bool
}

// vanished reports whether err is an entry gone while a volume in use was
// read, counting it.
func (s *sender) vanished(err error) bool {
	if s.inUse && errors.Is(err, fs.ErrNotExist) {
		s.st.Vanished++
		return true
	}
	return false
}

// nextSig reads the next signature (nil at the end).
func (s *sender) nextSig() (*wire.SigMsg, error) {
	if s.sigDone {
		return nil, nil
	}
	kind, payload, err := s.sigs.Next()
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	switch kind {
	case wire.End:
		s.sigDone = true
		return nil, nil
	case wire.Sig:
		m, err := wire.DecodeSig(payload)
		return &m, err
	}
	return nil, fmt.Errorf("%w: frame %q from the destination", wire.ErrStream, kind)
}

// sigFor returns the destination's signature of p, if it has one, reading
// past those of paths before p (entries the source lacks).
func (s *sender) sigFor(p string) (*wire.SigMsg, error) {
	// Flush first: the destination may need what is buffered to go on.
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	for {
		if s.sig == nil && !s.sigDone {
			var err error
			if s.sig, err = s.nextSig(); err != nil {
				return nil, err
			}
		}
		switch {
		case s.sig == nil:
			return nil, nil
		case wire.Before(s.sig.Path, p):
			s.sig = nil
		case s.sig.Path == p:
			m := s.sig
			s.sig = nil
			return m, nil
		default:
			return nil, nil
		}
	}
}

func (s *sender) dir(abs, rel string) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	names, err := readDirNames(abs)
	if rel != "" && s.vanished(err) {
		return nil // sent as empty
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		p, r := filepath.Join(abs, name), path.Join(rel, name)
		n, err := lstatNode(p, name)
		if s.vanished(err) {
			continue
		}
		if err != nil {
			return err
		}
		msg := wire.EntryMsg{Dir: []byte(rel), Node: n}
		if n.Type == repository.TypeFile && n.Links > 1 {
			key := [2]uint64{n.Device, n.Inode}
			if first, ok := s.links[key]; ok {
				msg.Link = []byte(first)
			} else {
				s.links[key] = r
			}
		}
		b, err := json.Marshal(msg)
		if err != nil {
			return err
		}
		if err := s.w.Frame(wire.Entry, b); err != nil {
			return err
		}
		switch {
		case n.Type == repository.TypeDir:
			s.st.Dirs++
			if err := s.dir(p, r); err != nil {
				return err
			}
			if err := s.w.Frame(wire.DirEnd); err != nil {
				return err
			}
		case n.Type == repository.TypeFile && msg.Link == nil:
			s.st.Files++
			if err := s.file(p, r); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		default:
			s.st.Others++
		}
	}
	return nil
}

// file sends the blocks of p that the destination lacks, then its size
// and hash.
func (s *sender) file(p, rel string) error {
	sig, err := s.sigFor(rel)
	if err != nil {
		return err
	}
	h := blake3.New()
	f, err := openNoFollow(p)
	if s.vanished(err) {
		return s.w.Frame(wire.FileEnd, binary.AppendUvarint(nil, 0), h.Sum(nil))
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var off int64
	var zeroStart, zeroLen int64
	flushZeros := func() error {
		if zeroLen == 0 {
			return nil
		}
		err := s.w.Frame(wire.Zero, binary.AppendUvarint(binary.AppendUvarint(nil, uint64(zeroStart)), uint64(zeroLen)))
		zeroLen = 0
		return err
	}
	for block := 0; ; block++ {
		n, err := io.ReadFull(f, s.buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		b := s.buf[:n]
		_, _ = h.Write(b)
		s.st.Bytes += int64(n)
		switch {
		case sig != nil && block < len(sig.Blocks) && sig.Blocks[block] == wire.HashBlock(b): // the same bytes there
			s.st.Unchanged += int64(n)
			if err := flushZeros(); err != nil {
				return err
			}
		case allZero(b):
			if zeroLen == 0 {
				zeroStart = off
			}
			zeroLen += int64(n)
		default:
			if err := flushZeros(); err != nil {
				return err
			}
			if err := s.w.Frame(wire.Data, binary.AppendUvarint(nil, uint64(off)), s.enc.EncodeAll(b, nil)); err != nil {
				return err
			}
		}
		off += int64(n)
		if n < wire.BlockSize {
			break
		}
	}
	if err := flushZeros(); err != nil {
		return err
	}
	return s.w.Frame(wire.FileEnd, binary.AppendUvarint(nil, uint64(off)), h.Sum(nil))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
