package web

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// backedUp is a source whose repository holds one real snapshot of a
// tree: a text file, a 3 MiB file of random bytes (many blobs), a
// symbolic link and a directory of 450 entries; and the files' contents.
func backedUp(t *testing.T, volume string) (*source, *repository.Snapshot, map[string][]byte) {
	t.Helper()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	files := map[string][]byte{"notes.txt": []byte("hello\n"), "data/big.bin": big}
	for i := range 450 {
		files[fmt.Sprintf("many/f%03d", i)] = []byte(fmt.Sprint(i))
	}
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("notes.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	repo, _ := repotest.New(t, repository.Options{})
	o := snapshot.Options{Host: "h1"}
	if volume != "" {
		o.Volume = &repository.VolumeInfo{Name: volume}
	}
	sn, err := snapshot.New(repo, o).Run(context.Background(), []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	src := fixture()
	src.repo, src.snaps = repo, []*repository.Snapshot{sn}
	// A backup of one directory has it as its root.
	return src, sn, files
}

func getJSON(t *testing.T, c *http.Client, u string, v any) int {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode == http.StatusOK {
		if err := json.NewDecoder(r.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return r.StatusCode
}

// The snapshot list, a directory in pages, a file downloaded exactly, a
// directory as a tar archive with its link, and paths that lead nowhere.
func TestSnapshotsBrowseDownload(t *testing.T) {
	src, sn, files := backedUp(t, "")
	ts := server(t, src, Options{})
	c := ts.Client()
	id := sn.ID.String()

	var rows []SnapshotRow
	if code := getJSON(t, c, ts.URL+"/api/snapshots?host=h1", &rows); code != 200 || len(rows) != 1 || rows[0].ID != id || rows[0].Files != int64(len(files)) {
		t.Fatalf("snapshots: %d %+v", code, rows)
	}
	if code := getJSON(t, c, ts.URL+"/api/snapshots?host=other", &rows); code != 200 || len(rows) != 0 {
		t.Fatalf("another host's snapshots: %d %+v", code, rows)
	}

	many := "/many"
	var pages []Listing
	for offset := 0; ; {
		var l Listing
		if code := getJSON(t, c, fmt.Sprintf("%s/api/snapshots/%s/tree?path=%s&offset=%d", ts.URL, id[:8], url.QueryEscape(many), offset), &l); code != 200 {
			t.Fatalf("listing %s at %d: %d", many, offset, code)
		}
		pages = append(pages, l)
		if l.NextOffset == 0 {
			break
		}
		offset = l.NextOffset
	}
	if len(pages) != 3 || len(pages[0].Entries) != pageSize || len(pages[2].Entries) != 50 || pages[2].Entries[49].Name != "f449" || pages[0].Total != 450 {
		t.Fatalf("pages of %s: %d, the last with %d entries", many, len(pages), len(pages[len(pages)-1].Entries))
	}

	for name, want := range files {
		if !strings.HasSuffix(name, "big.bin") && !strings.HasSuffix(name, "notes.txt") {
			continue
		}
		r, err := c.Get(ts.URL + "/snapshots/" + id + "/file?path=" + url.QueryEscape("/"+name))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !bytes.Equal(got, want) || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("download of %s: %d, %d bytes of %d, %q", name, r.StatusCode, len(got), len(want), r.Header.Get("Content-Disposition"))
		}
	}

	r, err := c.Get(ts.URL + "/snapshots/" + id + "/tar?path=/")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	tr := tar.NewReader(r.Body)
	got, links := map[string][]byte{}, map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			got[h.Name], _ = io.ReadAll(tr)
		case tar.TypeSymlink:
			links[h.Name] = h.Linkname
		}
	}
	if len(got) != len(files) || len(links) != 1 {
		t.Fatalf("the tar holds %d files and %d links, want %d and 1", len(got), len(links), len(files))
	}
	for name, want := range files {
		if !bytes.Equal(got[name], want) {
			t.Fatalf("the tar's %s differs (%d bytes of %d)", name, len(got[name]), len(want))
		}
	}

	for _, bad := range []string{"/snapshots/" + id + "/file?path=../../etc/passwd", "/snapshots/" + id + "/file?path=/", "/snapshots/ffff/file?path=/x", "/snapshots/" + id + "/tar?path=/nope"} {
		if r, _ := get(t, ts, bad); r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, r.StatusCode)
		}
	}
	if _, page := get(t, ts, "/snapshots/"+id[:8]+"/browse?path="+url.QueryEscape(many)); !strings.Contains(page, "f199") || strings.Contains(page, "f200") || !strings.Contains(page, "offset=200") {
		t.Error("the browse page does not show the first page of entries with a link to the next")
	}
}

// A restore is an action like the others, and runs as a task the page
// lists with its outcome.
func TestRestoreTask(t *testing.T) {
	src, sn, _ := backedUp(t, "")
	_, page := get(t, server(t, src, Options{}), "/snapshots/"+sn.ID.String()+"/browse?path=/")
	if strings.Contains(page, "Restore into") {
		t.Fatal("a snapshot of a path offers a restore into a volume")
	}
	src, sn, _ = backedUp(t, "pgdata")
	ts := server(t, src, Options{})
	_, page = get(t, ts, "/snapshots/"+sn.ID.String()+"/browse?path=/")
	proposed := "pgdata-restored-" + sn.ID.Short()
	if !strings.Contains(page, `value="`+proposed+`"`) {
		t.Fatalf("no proposed volume name %s in the page", proposed)
	}
	i := strings.Index(page, `name="token" value="`) + len(`name="token" value="`)
	token := page[i : i+64]
	post := func(form url.Values) int {
		c := ts.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		r, err := c.PostForm(ts.URL+"/snapshots/"+sn.ID.String()+"/restore", form)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	if code := post(url.Values{"volume": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("a restore without the token: %d", code)
	}
	if code := post(url.Values{"token": {token}, "volume": {proposed}}); code != http.StatusSeeOther {
		t.Fatalf("restore: %d", code)
	}
	var tasks []Task
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		getJSON(t, ts.Client(), ts.URL+"/api/tasks", &tasks)
		if len(tasks) == 1 && tasks[0].Done {
			break
		}
	}
	if len(tasks) != 1 || !tasks[0].Done || tasks[0].Error != "" || len(src.restored) != 1 || src.restored[0] != sn.ID.String()+" "+proposed+" false" {
		t.Fatalf("tasks %+v, restores %v", tasks, src.restored)
	}
	// The page's second form replaces the snapshot's own volume; a failure
	// is the task's.
	if !strings.Contains(page, `name="replace" value="yes"`) {
		t.Fatal("no form to replace the volume")
	}
	src.restoreErr = errors.New("volume pgdata is in use by container pg, which has no lifeboat.stop label")
	if code := post(url.Values{"token": {token}, "volume": {"pgdata"}, "replace": {"yes"}}); code != http.StatusSeeOther {
		t.Fatalf("replace: %d", code)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		getJSON(t, ts.Client(), ts.URL+"/api/tasks", &tasks)
		if len(tasks) == 2 && tasks[1].Done {
			break
		}
	}
	if len(tasks) != 2 || !strings.Contains(tasks[1].Error, "in use") || !strings.HasPrefix(tasks[1].What, "replace volume pgdata") || src.restored[1] != sn.ID.String()+" pgdata true" {
		t.Fatalf("tasks %+v, restores %v", tasks, src.restored)
	}
}

// The repository page: sizes, ratios, locks, and the growth plot drawn
// from two snapshots of the same files (the second adds nearly nothing,
// so the snapshots hold twice the distinct data).
func TestRepositoryPage(t *testing.T) {
	src, first, _ := backedUp(t, "")
	second, err := snapshot.New(src.repo, snapshot.Options{Host: "h1"}).Run(context.Background(), first.Paths)
	if err != nil {
		t.Fatal(err)
	}
	src.jobs = append(src.jobs, daemon.JobStatus{Name: "weekly-prune", Kind: "prune", Schedule: "@weekly", LastRun: now.Add(-time.Hour), LastError: "repository locked"},
		daemon.JobStatus{Name: "weekly-check", Kind: "check", Schedule: "@weekly", LastRun: now.Add(-2 * time.Hour), LastError: "1 problem found: damage",
			LastSummary: "4 snapshots checked, 9 packs read; to mend it: lifeboat repair packs 0a1b2c3d"})
	ts := server(t, src, Options{})
	var st RepositoryStats
	if code := getJSON(t, ts.Client(), ts.URL+"/api/repository", &st); code != 200 {
		t.Fatalf("/api/repository: %d", code)
	}
	if st.Snapshots != 2 || len(st.Growth) != 2 || st.Growth[1].Stored != first.Summary.StoredAdded+second.Summary.StoredAdded ||
		st.DedupRatio < 1.99 || st.DedupRatio > 2.01 || st.CompressionRatio <= 0 || st.Packs == 0 || st.StoredBytes == 0 {
		t.Fatalf("stats: %+v", st)
	}
	if len(st.Locks) != 1 || st.Locks[0].Exclusive {
		t.Fatalf("locks: %+v (the test holds one shared lock)", st.Locks)
	}
	_, page := get(t, ts, "/repository")
	if !strings.Contains(page, `id="prune-weekly-prune"`) || !strings.Contains(page, "repository locked") || strings.Contains(page, `-nightly"`) {
		t.Fatalf("the prune job on the repository page:\n%s", page)
	}
	_, check, _ := strings.Cut(page, `<p id="check-weekly-check">`)
	check, _, _ = strings.Cut(check, "</p>")
	if !strings.Contains(check, "failed") || !strings.Contains(check, "1 problem found") || !strings.Contains(check, "to mend it: lifeboat repair packs 0a1b2c3d") {
		t.Fatalf("the check job's result on the repository page: %s", check)
	}
	if !strings.Contains(page, `<svg class="plot"`) || !strings.Contains(page, "<polyline points=") || !strings.Contains(page, fmt.Sprintf(`id="dedup">%.1f ×`, st.DedupRatio)) {
		t.Fatalf("repository page:\n%s", page)
	}
}

// A diff compares a snapshot with the one before it of the same paths (or
// with the one named), and lists what changed with its counts.
func TestDiff(t *testing.T) {
	src, first, _ := backedUp(t, "")
	dir := first.Paths[0]
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello again\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "new.txt"), []byte("n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "many", "f000")); err != nil {
		t.Fatal(err)
	}
	second, err := snapshot.New(src.repo, snapshot.Options{Host: "h1"}).Run(context.Background(), first.Paths)
	if err != nil {
		t.Fatal(err)
	}
	src.snaps = append(src.snaps, second)
	ts := server(t, src, Options{})
	var d DiffPage
	if code := getJSON(t, ts.Client(), ts.URL+"/api/snapshots/"+second.ID.String()+"/diff", &d); code != 200 {
		t.Fatalf("diff: %d", code)
	}
	kinds := map[string]string{}
	for _, c := range d.Changes {
		kinds[c.Path] = c.Kind
	}
	if d.From.ID != first.ID.String() || d.Stats.Added != 1 || d.Stats.Removed != 1 || d.Stats.Modified != 1 ||
		kinds["/new.txt"] != "+" || kinds["/many/f000"] != "-" || kinds["/notes.txt"] != "M" {
		t.Fatalf("diff: %+v", d)
	}
	if code := getJSON(t, ts.Client(), ts.URL+"/api/snapshots/"+first.ID.String()+"/diff", &d); code != http.StatusNotFound {
		t.Fatalf("the first snapshot has none before it: %d", code)
	}
	if code := getJSON(t, ts.Client(), ts.URL+"/api/snapshots/"+first.ID.String()+"/diff?with="+second.ID.String()[:8], &d); code != 200 || d.Stats.Added != 1 || d.Stats.Removed != 1 {
		t.Fatalf("diff backwards: %d %+v", code, d.Stats)
	}
	if _, page := get(t, ts, "/snapshots/"+second.ID.String()+"/diff"); !strings.Contains(page, "1 added, 1 removed, 1 modified") {
		t.Fatalf("diff page:\n%s", page)
	}
}
