package snapshot_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

func write(t *testing.T, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, r *repository.Repository, opts snapshot.Options, paths ...string) *repository.Snapshot {
	t.Helper()
	sn, err := snapshot.New(r, opts).Run(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func testRepo(t *testing.T) *repository.Repository {
	t.Helper()
	r := benchRepo(t)
	t.Cleanup(func() { r.Close() })
	return r
}

// Unchanged files are reused from the parent without being read; changed
// and new ones are read; identical content anywhere is stored once.
func TestIncremental(t *testing.T) {
	r := testRepo(t)
	dir := t.TempDir()
	big := treetest.RandomBytes(1, 3<<20)
	write(t, dir, "a/big.bin", big)
	write(t, dir, "a/small.txt", []byte("small"))
	write(t, dir, "b/same-as-big.bin", big)
	first := run(t, r, snapshot.Options{}, dir)
	s := first.Summary
	if s.FilesNew != 3 || s.BytesRead != int64(2*len(big)+5) {
		t.Fatalf("first: %+v", s)
	}
	if s.BytesAdded >= int64(2*len(big)) {
		t.Fatalf("duplicate file stored twice: added %d", s.BytesAdded)
	}

	write(t, dir, "a/small.txt", []byte("changed"))
	write(t, dir, "c/new.txt", []byte("new"))
	second := run(t, r, snapshot.Options{Parent: first}, dir)
	s = second.Summary
	if s.FilesUnchanged != 2 || s.FilesChanged != 1 || s.FilesNew != 1 || s.BytesRead != 10 {
		t.Fatalf("second: %+v", s)
	}
	if s.DirsUnchanged != 1 || s.DirsNew != 1 || s.DirsChanged != 2 {
		t.Fatalf("second dirs: %+v", s)
	}
	if second.Parent == nil || *second.Parent != first.ID {
		t.Fatal("parent not recorded")
	}

	forced := run(t, r, snapshot.Options{Parent: second, Force: true}, dir)
	if forced.Summary.BytesRead != int64(2*len(big)+7+3) || forced.Summary.BlobsAdded != 0 {
		t.Fatalf("forced: %+v", forced.Summary)
	}
	if forced.Tree != second.Tree {
		t.Fatal("same content gave a different tree")
	}
}

func TestSeveralPaths(t *testing.T) {
	r := testRepo(t)
	a, b := t.TempDir(), t.TempDir()
	write(t, a, "x", []byte("x"))
	write(t, b, "y", []byte("y"))
	sn := run(t, r, snapshot.Options{Tags: []string{"t"}}, a, filepath.Join(b, "y"))
	var got []string
	if err := r.Walk(context.Background(), sn.Tree, "/", func(p string, n *repository.Node) error {
		got = append(got, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"/" + filepath.Base(a), "/" + filepath.Base(a) + "/x", "/y"}
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	if _, err := snapshot.New(r, snapshot.Options{}).Run(context.Background(), []string{a, a}); err == nil {
		t.Fatal("two paths with one name accepted")
	}
}

func TestDiff(t *testing.T) {
	r := testRepo(t)
	dir := t.TempDir()
	write(t, dir, "keep", []byte("k"))
	write(t, dir, "mod", []byte("1"))
	write(t, dir, "gone/f", []byte("g"))
	write(t, dir, "chmod", []byte("c"))
	write(t, dir, "becomes-dir", []byte("f"))
	a := run(t, r, snapshot.Options{}, dir)
	write(t, dir, "mod", []byte("2"))
	os.RemoveAll(filepath.Join(dir, "gone"))
	write(t, dir, "added/f", []byte("a"))
	os.Chmod(filepath.Join(dir, "chmod"), 0o600)
	os.Remove(filepath.Join(dir, "becomes-dir"))
	write(t, dir, "becomes-dir/x", []byte("x"))
	b := run(t, r, snapshot.Options{}, dir)
	var lines []string
	st, err := snapshot.Diff(context.Background(), r, a.Tree, b.Tree, func(c snapshot.Change) {
		lines = append(lines, c.Kind+" "+c.Path)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "+ /added,+ /added/f,T /becomes-dir,+ /becomes-dir/x,U /chmod,- /gone,- /gone/f,M /mod"
	if strings.Join(lines, ",") != want {
		t.Fatalf("diff:\n%s\nwant\n%s", strings.Join(lines, ","), want)
	}
	if st.Added != 3 || st.Removed != 2 || st.Modified != 1 || st.Metadata != 1 || st.TypeChanged != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// A file written to while it is read is saved with a warning naming it.
func TestFileChangedWhileRead(t *testing.T) {
	r := testRepo(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "busy.db")
	write(t, dir, "busy.db", treetest.RandomBytes(5, 64<<20))
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a database that keeps writing
		defer close(done)
		block := make([]byte, 4096)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			block[0] = byte(i)
			_, _ = f.WriteAt(block, int64(i%16000)*4096)
		}
	}()
	var warned []string
	sn := run(t, r, snapshot.Options{OnWarning: func(path string, err error) {
		warned = append(warned, path+": "+err.Error())
	}}, dir)
	close(stop)
	<-done
	if len(warned) != 1 || !strings.Contains(warned[0], "busy.db: file changed while being read") {
		t.Fatalf("warnings: %v", warned)
	}
	if sn.Incomplete || sn.Summary.FilesNew != 1 {
		t.Fatalf("a changed file is still saved: %+v", sn.Summary)
	}
}

// A changed file is cut guided by its previous version: the guide finds
// what did not change, and the blobs are exactly those of a backup without
// a parent, in the file's layout (pieces for a file written in pages).
func TestChangedFileGuidedByParent(t *testing.T) {
	r := testRepo(t)
	dir := t.TempDir()
	data := treetest.RandomBytes(3, 24<<20)
	write(t, dir, "db.bin", data)
	first := run(t, r, snapshot.Options{}, dir)

	copy(data[5<<20:], treetest.RandomBytes(4, 64<<10))                        // pages rewritten in place
	page := append([]byte("inserted"), make([]byte, repository.PageSize-8)...) // content shifted by a page
	data = append(data[:17<<20], append(page, data[17<<20:]...)...)
	write(t, dir, "db.bin", data)
	p := &snapshot.Progress{}
	guided := run(t, r, snapshot.Options{Parent: first, Progress: p}, dir)
	if m := p.BytesMatched.Load(); m < int64(len(data))/2 {
		t.Fatalf("guide found %d of %d bytes", m, len(data))
	}
	if added := guided.Summary.BytesAdded; added > 6<<20 {
		t.Fatalf("changed file added %d bytes", added)
	}
	fresh := run(t, r, snapshot.Options{Force: true}, dir)
	if got, want := content(t, r, guided, "db.bin"), content(t, r, fresh, "db.bin"); !slices.Equal(got, want) {
		t.Fatal("guided blobs differ from the blobs of a backup without a parent")
	}
}

// content returns the blobs of the file at rel in sn.
func content(t *testing.T, r *repository.Repository, sn *repository.Snapshot, rel string) []pack.ID {
	t.Helper()
	tree, err := r.LoadTree(context.Background(), sn.Tree)
	if err != nil {
		t.Fatal(err)
	}
	n := tree.Find(rel)
	if n == nil {
		t.Fatalf("%s not in snapshot", rel)
	}
	return n.Content
}

// blobLengths returns the plaintext length of each blob of the file at rel.
func blobLengths(t *testing.T, r *repository.Repository, sn *repository.Snapshot, rel string) []int {
	var lens []int
	for _, id := range content(t, r, sn, rel) {
		loc, ok := r.Index().Lookup(pack.DataBlob, id)
		if !ok {
			t.Fatalf("blob %s of %s not in the index", id.Short(), rel)
		}
		lens = append(lens, int(loc.Entry.PlainLength()))
	}
	return lens
}

// A file whose size is a whole number of pages is stored in pieces, other
// files in whole chunks; a file keeps its layout when its size changes, so
// that an appended log or a database file that grew by a header still
// finds its unchanged blobs.
func TestLayoutIsChosenOnceAndKept(t *testing.T) {
	r := testRepo(t)
	dir := t.TempDir()
	pages := treetest.RandomBytes(5, 20<<20)
	logText := treetest.RandomBytes(6, 20<<20+100)
	small := treetest.RandomBytes(7, 3<<20) // read, not mapped: the other cutter
	write(t, dir, "pages.db", pages)
	write(t, dir, "app.log", logText)
	write(t, dir, "small.db", small)
	first := run(t, r, snapshot.Options{}, dir)
	pieced := func(sn *repository.Snapshot, rel string) bool {
		lens := blobLengths(t, r, sn, rel)
		for _, n := range lens {
			if n > repository.DefaultPieceSize {
				return false
			}
		}
		if len(lens) < 2 {
			t.Fatalf("%s: %d blobs", rel, len(lens))
		}
		return true
	}
	for rel, want := range map[string]bool{"pages.db": true, "app.log": false, "small.db": true} {
		if got := pieced(first, rel); got != want {
			t.Fatalf("%s stored in pieces: %v, want %v", rel, got, want)
		}
	}
	write(t, dir, "pages.db", append(pages, "a trailer"...)) // no longer whole pages
	write(t, dir, "app.log", logText[:20<<20])               // now whole pages
	write(t, dir, "small.db", append(small, '\n'))
	p := &snapshot.Progress{}
	second := run(t, r, snapshot.Options{Parent: first, Progress: p}, dir)
	for rel, want := range map[string]bool{"pages.db": true, "app.log": false, "small.db": true} {
		if got := pieced(second, rel); got != want {
			t.Fatalf("after the change, %s stored in pieces: %v, want %v", rel, got, want)
		}
	}
	if added := second.Summary.BytesAdded; added > 10<<20 { // of 43 MiB: the three last chunks, re-cut
		t.Fatalf("the changes added %d bytes", added)
	}
}

// Random 8 KiB page writes over 1% of a file's pages re-store the pieces
// they touch (one or two each) and, where a write moves a chunk boundary,
// the chunks up to the next boundary that stays: about 7% of the file
// here, where whole chunks re-store about 70%. Issue #14's target, at most
// 10% of a 256 MiB file, is measured by the bench harness; this test
// holds a looser bound so that a different random draw does not fail it.
func TestDatabasePageWritesAddLittle(t *testing.T) {
	r := testRepo(t)
	dir := t.TempDir()
	const size, pageSize = 64 << 20, 8 << 10
	data := treetest.RandomBytes(8, size)
	write(t, dir, "base/16384/2619", data)
	first := run(t, r, snapshot.Options{}, dir)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	written := rng.Perm(size / pageSize)[:size/pageSize/100]
	for _, pg := range written {
		copy(data[pg*pageSize:], treetest.RandomBytes(rng.Uint64(), pageSize))
	}
	write(t, dir, "base/16384/2619", data)
	second := run(t, r, snapshot.Options{Parent: first}, dir)
	added := second.Summary.BytesAdded
	t.Logf("%d of %d pages rewritten: the backup added %.1f%% of the file", len(written), size/pageSize, 100*float64(added)/size)
	if share := float64(added) / size; share > 0.15 {
		t.Fatalf("added %.1f%% of the file", 100*share)
	}
	if least := int64(len(written) * pageSize); added < least {
		t.Fatalf("added %d bytes, less than the %d written", added, least)
	}
}
