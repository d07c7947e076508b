// Package web is the daemon's page: every volume's protection at a glance
// and the jobs, with "run now". It is served by `lifeboat daemon` on
// 127.0.0.1:9123 unless told otherwise. Every view has a JSON endpoint the
// page itself uses (GET /api/overview), so scripts and the page agree.
//
// It is safe by default: CheckListen refuses an address other than
// loopback without a password (HTTP basic authentication, compared in
// constant time over hashes) or an explicit insecure choice; every action
// is a POST carrying the page's token (a forged form from another site
// has none); a read-only server refuses every action; requests are
// limited in size and rate; every response carries the usual security
// headers. No secret (the repository password, store credentials) is
// known to this package. Its assets are embedded: no CDN, no build step.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/volumes"
	"golang.org/x/time/rate"
)

// Source is what the page shows and does, wired by the daemon.
type Source interface {
	// Jobs is the scheduler's status of every job.
	Jobs() []daemon.JobStatus
	// History is a job's last runs, newest first; nil for no such job.
	History(job string) []daemon.Run
	// Volumes is every volume of the engine, with its users and the jobs
	// that back it up.
	Volumes(ctx context.Context) ([]volumes.VolumeState, error)
	// PathJobs are the jobs that back up directories.
	PathJobs() []PathJob
	// Snapshots lists the repository's snapshots.
	Snapshots(ctx context.Context) ([]*repository.Snapshot, error)
	// Run starts a job now and returns at once; daemon.ErrBusy if it is
	// running already.
	Run(job string) error
	// Repository opens the repository to read snapshots' files: under a
	// shared lock (no prune deletes what is read) with its index loaded;
	// done releases it.
	Repository(ctx context.Context) (repo *repository.Repository, done func(), err error)
	// RestoreVolume restores the snapshot (an id or a unique prefix) into
	// the named volume, as `lifeboat restore --to-volume` does (with
	// replace, as with --force: a volume that holds data is made equal to
	// the snapshot, under the rule for volumes in use), and returns when
	// it is done.
	RestoreVolume(ctx context.Context, snapshot, volume string, replace bool) error
}

// Options configure a Server.
type Options struct {
	Host     string // the host name this daemon's snapshots record
	ReadOnly bool   // refuse every action
	// Password, if not empty, is asked for by every page and endpoint
	// (basic authentication, any user name); /healthz and /metrics are not
	// this package's.
	Password string
	Now      func() time.Time // default time.Now
	// Context bounds the work the page starts in the background (its
	// restores); default context.Background().
	Context context.Context
	// Rate and Burst limit the requests of all clients together (default
	// 20 a second, bursts of 60).
	Rate  float64
	Burst int
}

// Server serves the page.
type Server struct {
	src      Source
	o        Options
	token    string   // the actions' token, new at every start
	password [32]byte // its hash
	limiter  *rate.Limiter
	pages    *template.Template
	mux      *http.ServeMux
	tasks    tasks
	trees    treeCache
}

//go:embed assets
var assets embed.FS

// maxBody bounds a request's body: an action's form is a few bytes.
const maxBody = 16 << 10

// New prepares a server.
func New(src Source, o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.Rate <= 0 {
		o.Rate, o.Burst = 20, 60
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	pages, err := template.New("").Funcs(template.FuncMap{
		"ago":   func(secs float64) string { return human.Duration(time.Duration(secs * float64(time.Second))) },
		"bytes": human.Bytes,
		"class": func(state string) string { return strings.ReplaceAll(state, " ", "-") },
		"when":  func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
		"short": shortID,
		"count": human.Count,
		"join":  path.Join,
		"add":   func(a, b int) int { return a + b },
	}).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, err
	}
	s := &Server{src: src, o: o, token: hex.EncodeToString(b), limiter: rate.NewLimiter(rate.Limit(o.Rate), o.Burst), pages: pages,
		password: sha256.Sum256([]byte(o.Password)), mux: http.NewServeMux()}
	static, _ := fs.Sub(assets, "assets")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /api/overview", s.apiOverview)
	s.mux.HandleFunc("GET /api/jobs", s.apiJobs)
	s.mux.HandleFunc("POST /jobs/{name}/run", s.run)
	s.mux.HandleFunc("GET /jobs/{name}", s.jobPage)
	s.mux.HandleFunc("GET /api/jobs/{name}", s.apiJob)
	s.mux.HandleFunc("GET /snapshots", s.snapshotsPage)
	s.mux.HandleFunc("GET /api/snapshots", s.apiSnapshots)
	s.mux.HandleFunc("GET /snapshots/{id}/browse", s.snapshotHandler(s.browsePage))
	s.mux.HandleFunc("GET /api/snapshots/{id}/tree", s.snapshotHandler(s.apiTree))
	s.mux.HandleFunc("GET /snapshots/{id}/diff", s.snapshotHandler(s.diffPage))
	s.mux.HandleFunc("GET /api/snapshots/{id}/diff", s.snapshotHandler(s.apiDiff))
	s.mux.HandleFunc("GET /snapshots/{id}/file", s.snapshotHandler(s.file))
	s.mux.HandleFunc("GET /snapshots/{id}/tar", s.snapshotHandler(s.tarball))
	s.mux.HandleFunc("POST /snapshots/{id}/restore", s.restore)
	s.mux.HandleFunc("GET /repository", s.repositoryPage)
	s.mux.HandleFunc("GET /api/repository", s.apiRepository)
	s.mux.HandleFunc("GET /tasks", s.tasksPage)
	s.mux.HandleFunc("GET /api/tasks", s.apiTasks)
	return s, nil
}

// ServeHTTP applies the limits, the headers and the password, then the
// page's routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if !s.limiter.Allow() {
		h.Set("Retry-After", "1")
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	if s.o.Password != "" {
		_, pw, ok := r.BasicAuth()
		got := sha256.Sum256([]byte(pw))
		if !ok || subtle.ConstantTimeCompare(got[:], s.password[:]) != 1 {
			h.Set("WWW-Authenticate", `Basic realm="lifeboat", charset="UTF-8"`)
			http.Error(w, "the password is wrong or missing", http.StatusUnauthorized)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	s.mux.ServeHTTP(w, r)
}

// overview gathers what the overview shows; what could not be read is
// listed among its problems, the rest still shown.
func (s *Server) overview(ctx context.Context) *Overview {
	var problems []string
	vols, err := s.src.Volumes(ctx)
	if err != nil {
		problems = append(problems, "the Docker engine: "+err.Error())
	}
	snaps, err := s.src.Snapshots(ctx)
	if err != nil {
		problems = append(problems, "the repository: "+err.Error())
	}
	o := overview(s.o.Host, s.o.Now(), vols, s.src.PathJobs(), s.src.Jobs(), snaps)
	o.Problems, o.ReadOnly = problems, s.o.ReadOnly
	return o
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	data := struct {
		*Overview
		Token  string
		Notice string
	}{s.overview(r.Context()), s.token, r.URL.Query().Get("notice")}
	s.render(w, "page.html", data)
}

// render writes a page.
func (s *Server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (s *Server) apiOverview(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.overview(r.Context()))
}

func (s *Server) apiJobs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.src.Jobs())
}

// JobPage is a job's status with its last runs (GET /api/jobs/NAME).
type JobPage struct {
	daemon.JobStatus
	Runs []daemon.Run `json:"runs"`
}

func (s *Server) job(name string) (*JobPage, bool) {
	for _, j := range s.src.Jobs() {
		if j.Name == name {
			runs := s.src.History(name)
			if runs == nil {
				runs = []daemon.Run{}
			}
			return &JobPage{JobStatus: j, Runs: runs}, true
		}
	}
	return nil, false
}

func (s *Server) apiJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.job(r.PathValue("name"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such job"})
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	j, ok := s.job(r.PathValue("name"))
	if !ok {
		http.Error(w, "no such job", http.StatusNotFound)
		return
	}
	s.render(w, "job.html", struct {
		*JobPage
		Host, Token string
		ReadOnly    bool
	}{j, s.o.Host, s.token, s.o.ReadOnly})
}

// action checks a POST before it acts: it carries the page's token (a
// form field, or the X-Lifeboat-Token header of the page's script), no
// browser says another site sent it, and the page is not read-only. A
// refusal is answered; false means do nothing.
func (s *Server) action(w http.ResponseWriter, r *http.Request) bool {
	token := r.Header.Get("X-Lifeboat-Token")
	if token == "" {
		if err := r.ParseForm(); err != nil {
			fail(w, r, http.StatusBadRequest, "a form that cannot be read")
			return false
		}
		token = r.PostForm.Get("token")
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) != 1:
		fail(w, r, http.StatusForbidden, "this action did not come from the page (reload it)")
	case crossSite(r):
		fail(w, r, http.StatusForbidden, "an action from another site")
	case s.o.ReadOnly:
		fail(w, r, http.StatusForbidden, "the page is read-only")
	default:
		return true
	}
	return false
}

// fail answers a refused or failed action: JSON to the page's script,
// text to a form.
func fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if r.Header.Get("X-Lifeboat-Token") != "" {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	http.Error(w, msg, code)
}

// run starts a job: a form POST (answered with a redirect to the page) or
// the script's (answered with JSON).
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	if !s.action(w, r) {
		return
	}
	name := r.PathValue("name")
	err := s.src.Run(name)
	switch {
	case errors.Is(err, daemon.ErrBusy):
		fail(w, r, http.StatusConflict, fmt.Sprintf("job %s is running already", name))
	case errors.Is(err, daemon.ErrNoJob):
		fail(w, r, http.StatusNotFound, fmt.Sprintf("no job named %s", name))
	case err != nil:
		fail(w, r, http.StatusInternalServerError, err.Error())
	case r.Header.Get("X-Lifeboat-Token") != "":
		writeJSON(w, http.StatusAccepted, map[string]string{"started": name})
	default:
		http.Redirect(w, r, "/?notice="+url.QueryEscape("started job "+name), http.StatusSeeOther)
	}
}

// crossSite reports a request that a browser says another site made.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ErrUnprotected: the page would be open to the network without a
// password.
var ErrUnprotected = errors.New("the page would be open to the network without a password")

// CheckListen refuses to serve the page on addr unless addr is a loopback
// address, a password is set, or insecure says the operator wants it open
// (ErrUnprotected).
func CheckListen(addr string, password, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if password || insecure {
		return nil
	}
	return fmt.Errorf("%w on %s: set daemon.web.password-file (or LIFEBOAT_WEB_PASSWORD), listen on 127.0.0.1, or set daemon.web.insecure: true", ErrUnprotected, addr)
}
