package web

import (
	"archive/tar"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// SnapshotRow is a snapshot in the list (GET /api/snapshots).
type SnapshotRow struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Host       string    `json:"host"`
	Tags       []string  `json:"tags"`
	Volume     string    `json:"volume,omitempty"`
	Paths      []string  `json:"paths"`
	Files      int64     `json:"files"`
	Bytes      int64     `json:"bytes"`
	Added      int64     `json:"bytes_added"`
	Incomplete bool      `json:"incomplete,omitempty"`
}

// Entry is one entry of a directory in a snapshot (GET /api/tree).
type Entry struct {
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Size    int64     `json:"size,omitempty"`
	ModTime time.Time `json:"mtime"`
	Target  string    `json:"link_target,omitempty"`
}

// Listing is a page of a directory's entries.
type Listing struct {
	Snapshot   SnapshotRow `json:"snapshot"`
	Path       string      `json:"path"`
	Entries    []Entry     `json:"entries"`
	Offset     int         `json:"offset"`
	Total      int         `json:"total"`
	NextOffset int         `json:"next_offset,omitempty"` // 0: the last page
}

// pageSize is how many entries a directory page lists.
const pageSize = 200

// Task is something the page started that runs in the background: a
// restore into a volume (GET /api/tasks).
type Task struct {
	ID       int       `json:"id"`
	What     string    `json:"what"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
	Done     bool      `json:"done"`
}

// tasks are the page's background work, newest last.
type tasks struct {
	mu   sync.Mutex
	list []*Task
}

// start runs fn in the background as a new task.
func (ts *tasks) start(ctx context.Context, now func() time.Time, what string, fn func(context.Context) error) *Task {
	ts.mu.Lock()
	t := &Task{ID: len(ts.list) + 1, What: what, Started: now()}
	ts.list = append(ts.list, t)
	ts.mu.Unlock()
	go func() {
		err := fn(ctx)
		ts.mu.Lock()
		defer ts.mu.Unlock()
		t.Done, t.Finished = true, now()
		if err != nil {
			t.Error = err.Error()
		}
	}()
	return t
}

func (ts *tasks) snapshot() []Task {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]Task, len(ts.list))
	for i, t := range ts.list {
		out[i] = *t
	}
	return out
}

func row(sn *repository.Snapshot) SnapshotRow {
	r := SnapshotRow{ID: sn.ID.String(), Time: sn.Time, Host: sn.Host, Tags: sn.Tags, Paths: sn.Paths,
		Files: sn.Summary.TotalFiles, Bytes: sn.Summary.TotalBytes, Added: sn.Summary.BytesAdded, Incomplete: sn.Incomplete}
	if sn.Volume != nil {
		r.Volume = sn.Volume.Name
	}
	if r.Tags == nil {
		r.Tags = []string{}
	}
	return r
}

// snapshotRows lists the snapshots that pass f, newest first.
func (s *Server) snapshotRows(ctx context.Context, f repository.Filter) ([]SnapshotRow, error) {
	all, err := s.src.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	var out []SnapshotRow
	for _, sn := range all {
		if f.Match(sn) {
			out = append(out, row(sn))
		}
	}
	slices.SortFunc(out, func(a, b SnapshotRow) int { return b.Time.Compare(a.Time) })
	return out, nil
}

func filterOf(r *http.Request) repository.Filter {
	q := r.URL.Query()
	f := repository.Filter{Host: q.Get("host"), Volume: q.Get("volume")}
	if tag := q.Get("tag"); tag != "" {
		f.Tags = []string{tag}
	}
	return f
}

func (s *Server) apiSnapshots(w http.ResponseWriter, r *http.Request) {
	rows, err := s.snapshotRows(r.Context(), filterOf(r))
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

// snapshotsPage lists the snapshots that pass the filter, newest first,
// pageSize a page.
func (s *Server) snapshotsPage(w http.ResponseWriter, r *http.Request) {
	rows, err := s.snapshotRows(r.Context(), filterOf(r))
	offset := min(offsetOf(r), len(rows))
	end := min(len(rows), offset+pageSize)
	data := struct {
		Host                string
		Filter              repository.Filter
		Snapshots           []SnapshotRow
		Total, Offset, Next int
		More                template.URL // the next page
		Error               string
	}{Host: s.o.Host, Filter: filterOf(r), Snapshots: rows[offset:end], Total: len(rows), Offset: offset}
	if end < len(rows) {
		data.Next = end
		q := r.URL.Query()
		q.Set("offset", strconv.Itoa(end))
		data.More = template.URL("/snapshots?" + q.Encode()) // encoded: a safe URL
	}
	if err != nil {
		data.Error = err.Error()
	}
	s.render(w, "snapshots.html", data)
}

// snapshotHandler serves h with the snapshot the path's {id} names (a
// unique prefix will do), in a repository opened for reading its data and
// released when h returns.
func (s *Server) snapshotHandler(h func(w http.ResponseWriter, r *http.Request, repo *repository.Repository, sn *repository.Snapshot)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		repo, done, err := s.src.Repository(r.Context())
		if err != nil {
			http.Error(w, "the repository: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer done()
		all, err := s.src.Snapshots(r.Context()) // the list the daemon keeps loaded
		var sn *repository.Snapshot
		if err == nil {
			sn, err = repository.FindSnapshot(all, r.PathValue("id"), repository.Filter{})
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		h(w, r, repo, sn)
	}
}

// cleanPath is the query's path as an absolute slash path.
func cleanPath(r *http.Request) string { return path.Clean("/" + r.URL.Query().Get("path")) }

// treeCache keeps the directory trees the last few listings decoded, so
// that paging through a directory of 100,000 entries decodes its tree
// once. A tree is named by its content's hash and authenticated as it is
// loaded: a kept one is as good as one loaded again.
type treeCache struct {
	mu    sync.Mutex
	order []pack.ID // oldest first
	trees map[pack.ID]*repository.Tree
}

// treesKept is how many trees a treeCache keeps.
const treesKept = 8

func (c *treeCache) load(ctx context.Context, repo *repository.Repository, id pack.ID) (*repository.Tree, error) {
	c.mu.Lock()
	t, ok := c.trees[id]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := repo.LoadTree(ctx, id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trees == nil {
		c.trees = map[pack.ID]*repository.Tree{}
	}
	if _, ok := c.trees[id]; !ok {
		c.trees[id] = t
		c.order = append(c.order, id)
		if len(c.order) > treesKept {
			delete(c.trees, c.order[0])
			c.order = c.order[1:]
		}
	}
	return t, nil
}

// listing is a page of the directory p of sn.
func (s *Server) listing(ctx context.Context, repo *repository.Repository, sn *repository.Snapshot, p string, offset int) (*Listing, error) {
	n, err := repo.FindNode(ctx, sn, p)
	if err != nil {
		return nil, err
	}
	if n.Subtree == nil {
		return nil, fmt.Errorf("%s is not a directory", p)
	}
	t, err := s.trees.load(ctx, repo, *n.Subtree)
	if err != nil {
		return nil, err
	}
	l := &Listing{Snapshot: row(sn), Path: p, Offset: offset, Total: len(t.Nodes), Entries: []Entry{}}
	end := min(len(t.Nodes), offset+pageSize)
	for i := offset; i < end; i++ {
		n := &t.Nodes[i]
		l.Entries = append(l.Entries, Entry{Name: n.Name, Type: n.Type, Size: int64(n.Size), ModTime: time.Unix(0, n.ModTime), Target: n.LinkTarget})
	}
	if end < len(t.Nodes) {
		l.NextOffset = end
	}
	return l, nil
}

func offsetOf(r *http.Request) int {
	o, err := strconv.Atoi(r.URL.Query().Get("offset"))
	if err != nil || o < 0 {
		return 0
	}
	return o
}

func (s *Server) apiTree(w http.ResponseWriter, r *http.Request, repo *repository.Repository, sn *repository.Snapshot) {
	l, err := s.listing(r.Context(), repo, sn, cleanPath(r), offsetOf(r))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) browsePage(w http.ResponseWriter, r *http.Request, repo *repository.Repository, sn *repository.Snapshot) {
	l, err := s.listing(r.Context(), repo, sn, cleanPath(r), offsetOf(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	proposed, original := "", ""
	if sn.Volume != nil {
		proposed, original = fmt.Sprintf("%s-restored-%s", sn.Volume.Name, sn.ID.Short()), sn.Volume.Name
	}
	s.render(w, "browse.html", struct {
		*Listing
		Host, Token, Proposed, Original string
		ReadOnly                        bool
	}{l, s.o.Host, s.token, proposed, original, s.o.ReadOnly})
}

// file streams a file of a snapshot as a download, blob by blob: nothing
// is buffered beyond one blob, and every blob is authenticated as it is
// read (a damaged one ends the download early, and the client sees a
// short body against its Content-Length).
func (s *Server) file(w http.ResponseWriter, r *http.Request, repo *repository.Repository, sn *repository.Snapshot) {
	p := cleanPath(r)
	n, err := repo.FindNode(r.Context(), sn, p)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if n.Type != repository.TypeFile {
		http.Error(w, p+" is not a file", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", attachment(path.Base(p)))
	h.Set("Content-Length", strconv.FormatUint(n.Size, 10))
	_ = writeContent(r.Context(), repo, n, w)
}

// writeContent writes a file node's data blobs in order.
func writeContent(ctx context.Context, repo *repository.Repository, n *repository.Node, w interface{ Write([]byte) (int, error) }) error {
	var buf []byte
	for _, id := range n.Content {
		var err error
		if buf, err = repo.LoadBlob(ctx, pack.DataBlob, id, buf[:0]); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// tarball streams a directory of a snapshot as a tar archive: its
// directories, files and symbolic links, with their modes and times.
func (s *Server) tarball(w http.ResponseWriter, r *http.Request, repo *repository.Repository, sn *repository.Snapshot) {
	dir := cleanPath(r)
	n, err := repo.FindNode(r.Context(), sn, dir)
	if err != nil || n.Subtree == nil {
		http.Error(w, dir+" is not a directory of the snapshot", http.StatusNotFound)
		return
	}
	name := path.Base(dir)
	if dir == "/" {
		name = "snapshot-" + sn.ID.Short()
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", attachment(name+".tar"))
	tw := tar.NewWriter(w)
	err = repo.Walk(r.Context(), *n.Subtree, "/", func(p string, n *repository.Node) error {
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: int64(n.Mode), ModTime: time.Unix(0, n.ModTime),
			Uid: int(n.UID), Gid: int(n.GID), Format: tar.FormatPAX}
		switch n.Type {
		case repository.TypeDir:
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case repository.TypeFile:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(n.Size)
		case repository.TypeSymlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, n.LinkTarget
		default:
			return nil // devices, sockets, fifos: not in a download
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if n.Type == repository.TypeFile {
			return writeContent(r.Context(), repo, n, tw)
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	_ = err // headers are sent: a failure shows as a truncated archive
}

// attachment is a Content-Disposition that downloads as name.
func attachment(name string) string {
	return "attachment; filename*=UTF-8''" + url.PathEscape(name)
}

// restore starts a restore of a volume snapshot into a volume named in the
// form (Source.RestoreVolume decides what may be written).
func (s *Server) restore(w http.ResponseWriter, r *http.Request) {
	if !s.action(w, r) {
		return
	}
	id, volume := r.PathValue("id"), strings.TrimSpace(r.PostForm.Get("volume"))
	replace := r.PostForm.Get("replace") == "yes"
	if volume == "" {
		http.Error(w, "name the volume to restore into", http.StatusBadRequest)
		return
	}
	what := fmt.Sprintf("restore snapshot %s into volume %s", shortID(id), volume)
	if replace {
		what = fmt.Sprintf("replace volume %s with snapshot %s", volume, shortID(id))
	}
	t := s.tasks.start(s.o.Context, s.o.Now, what,
		func(ctx context.Context) error { return s.src.RestoreVolume(ctx, id, volume, replace) })
	http.Redirect(w, r, "/tasks?notice="+url.QueryEscape(fmt.Sprintf("task %d: %s", t.ID, t.What)), http.StatusSeeOther)
}

func shortID(id string) string { return id[:min(8, len(id))] }

func (s *Server) apiTasks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.tasks.snapshot())
}

func (s *Server) tasksPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, "tasks.html", struct {
		Host, Notice string
		Tasks        []Task
	}{s.o.Host, r.URL.Query().Get("notice"), s.tasks.snapshot()})
}
