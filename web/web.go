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
	// Volumes is every volume of the engine, with its users and the jobs
	// that back it up.
	Volumes(ctx context.Context) ([]volumes.VolumeState, error)
	// Snapshots lists the repository's snapshots.
	Snapshots(ctx context.Context) ([]*repository.Snapshot, error)
	// Run starts a job now and returns at once; daemon.ErrBusy if it is
	// running already.
	Run(job string) error
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
	page     *template.Template
	mux      *http.ServeMux
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
	if o.Rate <= 0 {
		o.Rate, o.Burst = 20, 60
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	page, err := template.New("page.html").Funcs(template.FuncMap{
		"ago":   func(secs float64) string { return human.Duration(time.Duration(secs * float64(time.Second))) },
		"bytes": human.Bytes,
		"class": func(state string) string { return strings.ReplaceAll(state, " ", "-") },
		"when":  func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
	}).ParseFS(assets, "assets/page.html")
	if err != nil {
		return nil, err
	}
	s := &Server{src: src, o: o, token: hex.EncodeToString(b), limiter: rate.NewLimiter(rate.Limit(o.Rate), o.Burst), page: page,
		password: sha256.Sum256([]byte(o.Password)), mux: http.NewServeMux()}
	static, _ := fs.Sub(assets, "assets")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /api/overview", s.apiOverview)
	s.mux.HandleFunc("GET /api/jobs", s.apiJobs)
	s.mux.HandleFunc("POST /jobs/{name}/run", s.run)
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
	o := overview(s.o.Host, s.o.Now(), vols, s.src.Jobs(), snaps)
	o.Problems, o.ReadOnly = problems, s.o.ReadOnly
	return o
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct {
		*Overview
		Token  string
		Notice string
	}{s.overview(r.Context()), s.token, r.URL.Query().Get("notice")}
	if err := s.page.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (s *Server) apiOverview(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.overview(r.Context()))
}

func (s *Server) apiJobs(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.src.Jobs())
}

// run starts a job: a form POST (answered with a redirect to the page) or
// a script's (answered with JSON), each with the page's token.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	script := r.Header.Get("X-Lifeboat-Token") != ""
	fail := func(code int, msg string) {
		if script {
			writeJSON(w, code, map[string]string{"error": msg})
			return
		}
		http.Error(w, msg, code)
	}
	token := r.Header.Get("X-Lifeboat-Token")
	if !script {
		if err := r.ParseForm(); err != nil {
			fail(http.StatusBadRequest, "a form that cannot be read")
			return
		}
		token = r.PostForm.Get("token")
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) != 1:
		fail(http.StatusForbidden, "this action did not come from the page (reload it)")
		return
	case crossSite(r):
		fail(http.StatusForbidden, "an action from another site")
		return
	case s.o.ReadOnly:
		fail(http.StatusForbidden, "the page is read-only")
		return
	}
	name := r.PathValue("name")
	err := s.src.Run(name)
	switch {
	case errors.Is(err, daemon.ErrBusy):
		fail(http.StatusConflict, fmt.Sprintf("job %s is running already", name))
	case errors.Is(err, daemon.ErrNoJob):
		fail(http.StatusNotFound, fmt.Sprintf("no job named %s", name))
	case err != nil:
		fail(http.StatusInternalServerError, err.Error())
	case script:
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
