package restore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/internal/wire"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// direct copies src into dst as migrate --direct does, the two halves
// joined by pipes both ways.
func direct(t *testing.T, src, dst string) (*snapshot.SendStats, *restore.Result) {
	t.Helper()
	ctx := context.Background()
	toDst, fromSrc := io.Pipe()
	toSrc, fromDst := io.Pipe()
	var st *snapshot.SendStats
	sent := make(chan error, 1)
	go func() {
		var err error
		st, err = snapshot.Send(ctx, src, fromSrc, toSrc, false)
		fromSrc.CloseWithError(err)
		toSrc.CloseWithError(err)
		sent <- err
	}()
	res, err := restore.Receive(ctx, dst, toDst, fromDst)
	toDst.CloseWithError(err)
	fromDst.CloseWithError(err)
	if serr := <-sent; err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		t.Fatalf("direct copy: %v", err)
	}
	return st, res
}

// A direct copy makes the destination equal to the source, every kind of
// entry and its metadata; again after every kind of change, sending little
// more than the blocks that changed; and a destination file changed behind
// its back (same size and time) is found by its signature, not trusted.
func TestDirectCopy(t *testing.T) {
	treetest.RequireRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	buildDeltaTree(t, src)
	st, res := direct(t, src, dst)
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatalf("first copy differs:\n%v", err)
	}
	if st.Unchanged != 0 || res.Patched != 0 || res.Files != int64(st.Files) || res.Verified != res.Files {
		t.Fatalf("first copy into an empty directory: %+v %+v", st, res)
	}
	t.Logf("first copy: %+v", st)

	changeTree(t, src)
	st, res = direct(t, src, dst)
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatalf("second copy differs:\n%v", err)
	}
	t.Logf("second copy: %+v, %+v", st, res)
	// 24 pages of 8 KiB rewritten (a 16 KiB block each), 300 KiB
	// appended, a few small files: far less than the 23 MiB there.
	if limit := int64(24*16<<10 + 400<<10 + 64<<10); st.Sent > limit || st.Unchanged < st.Bytes*9/10 {
		t.Fatalf("second copy sent %d bytes (at most %d), %d of %d unchanged", st.Sent, limit, st.Unchanged, st.Bytes)
	}
	if res.Deleted < 3 || res.Patched == 0 || res.Verified != res.Files {
		t.Fatalf("second copy: %+v", res)
	}

	// Tampered: a block of the destination's copy, size and time kept.
	db := filepath.Join(dst, "db.bin")
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tampered"), 5<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(db, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	st, _ = direct(t, src, dst)
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatalf("copy over a tampered destination differs:\n%v", err)
	}
	if st.Sent > 64<<10 {
		t.Fatalf("a copy with one block to mend sent %d bytes", st.Sent)
	}
}

// What the destination holds in place of a directory (a symlink to a
// directory outside, a file) is replaced, and nothing outside is touched.
func TestDirectCopyPlantedSymlink(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	mkfile(t, filepath.Join(src, "sub/inner"), "inner")
	mkfile(t, filepath.Join(src, "file"), "file")
	mkfile(t, filepath.Join(outside, "precious"), "not the target's")
	if err := os.Symlink(outside, filepath.Join(dst, "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dst, "file"), 0o755); err != nil {
		t.Fatal(err)
	}
	direct(t, src, dst)
	if b, err := os.ReadFile(filepath.Join(dst, "sub/inner")); err != nil || string(b) != "inner" {
		t.Fatalf("sub/inner: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "file")); err != nil || string(b) != "file" {
		t.Fatalf("file: %q %v", b, err)
	}
	entries, _ := os.ReadDir(outside)
	if b, err := os.ReadFile(filepath.Join(outside, "precious")); err != nil || string(b) != "not the target's" || len(entries) != 1 {
		t.Fatalf("outside was touched: %q %v, %d entries", b, err, len(entries))
	}
}

// A stream that names an entry outside its directory, or a link to a path
// outside the target, is refused and writes nothing outside.
func TestReceiveRefusesHostileStreams(t *testing.T) {
	root, _ := json.Marshal(repository.Node{Type: repository.TypeDir, Mode: 0o755})
	for _, m := range []wire.EntryMsg{
		{Node: repository.Node{Name: "..", Type: repository.TypeDir}},
		{Node: repository.Node{Name: "../escape", Type: repository.TypeFile}},
		{Dir: []byte("elsewhere"), Node: repository.Node{Name: "f", Type: repository.TypeFile}},
		{Node: repository.Node{Name: "l", Type: repository.TypeFile}, Link: []byte("../../etc/passwd")},
	} {
		parent := t.TempDir()
		dst := filepath.Join(parent, "dst")
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		w := wire.NewWriter(&b)
		e, _ := json.Marshal(m)
		_ = w.Frame(wire.Root, root)
		_ = w.Frame(wire.Entry, e)
		_ = w.Frame(wire.End)
		_ = w.Flush()
		if _, err := restore.Receive(context.Background(), dst, &b, io.Discard); err == nil {
			t.Fatalf("entry %q in %q (link %q) accepted", m.Node.Name, m.Dir, m.Link)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Fatalf("entry %q: something was written beside the target: %v", m.Node.Name, entries)
		}
	}
}

// A sender started ahead of its copy (awaitGo) reads nothing before the
// Go frame: the file it sends is the one there when the frame came, and a
// stream that starts with anything else is refused.
func TestDirectCopyAwaitsGo(t *testing.T) {
	ctx := context.Background()
	src, dst := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "db"), []byte("before"), 0o600); err != nil {
		t.Fatal(err)
	}
	toDst, fromSrc := io.Pipe()
	toSrc, fromDst := io.Pipe()
	gate := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		in := io.MultiReader(readerFunc(func(p []byte) (int, error) { <-gate; return 0, io.EOF }), bytes.NewReader(wire.GoFrame), toSrc)
		_, err := snapshot.Send(ctx, src, fromSrc, in, true)
		fromSrc.CloseWithError(err)
		toSrc.CloseWithError(err)
		sent <- err
	}()
	received := make(chan error, 1)
	go func() {
		_, err := restore.Receive(ctx, dst, toDst, fromDst)
		toDst.CloseWithError(err)
		fromDst.CloseWithError(err)
		received <- err
	}()
	// The source changes before the go-ahead: the change is what arrives.
	if err := os.WriteFile(filepath.Join(src, "db"), []byte("after the stop"), 0o600); err != nil {
		t.Fatal(err)
	}
	close(gate)
	if err, serr := <-received, <-sent; err != nil || serr != nil {
		t.Fatalf("direct copy: %v, %v", err, serr)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "db")); err != nil || string(b) != "after the stop" {
		t.Fatalf("the destination holds %q (%v)", b, err)
	}

	var out bytes.Buffer
	var sig bytes.Buffer
	w := wire.NewWriter(&sig)
	if err := w.Frame(wire.End); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.Send(ctx, src, &out, &sig, true); !errors.Is(err, wire.ErrStream) || out.Len() != 0 {
		t.Fatalf("a stream without the go-ahead: %v, %d bytes sent", err, out.Len())
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
