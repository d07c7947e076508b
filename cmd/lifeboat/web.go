package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/volumes"
	"github.com/lifeboat-backup/lifeboat/web"
)

// defaultListen is where the daemon serves its page without listen:.
const defaultListen = "127.0.0.1:9123"

// listenOff is the listen address that serves nothing (a second daemon
// in a network another one serves).
const listenOff = "off"

// serveDaemon serves the web page, /healthz and /metrics on the daemon's
// listen address. An address given in the config that cannot be used is
// an error; the default one (another daemon may hold it) is a warning;
// "off" serves nothing. The page itself is left out, with a warning,
// where CheckListen refuses it: the health and metrics stay.
func (a *app) serveDaemon(ctx context.Context, s *daemon.Scheduler) (stop func(), err error) {
	d := a.cfg.Daemon
	addr := d.Listen
	switch addr {
	case listenOff:
		return func() {}, nil
	case "":
		addr = defaultListen
	}
	var closers []func()
	stop = func() {
		for _, c := range closers {
			c()
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", s.Handler())
	mux.Handle("/metrics", s.Handler())
	served := "/healthz and /metrics"
	password, err := a.webPassword()
	if err != nil {
		return nil, usageError{err}
	}
	switch err := web.CheckListen(addr, password != "", d.Web.Insecure); {
	case errors.Is(err, web.ErrUnprotected):
		a.out.warn("web page", fmt.Errorf("not served: %w", err))
	case err != nil:
		return nil, usageError{err}
	default:
		src := &daemonPage{a: a, s: s, ctx: ctx}
		closers = append(closers, src.close)
		page, err := web.New(src, web.Options{Host: a.snapshotHost(ctx), ReadOnly: d.Web.ReadOnly, Password: password, Context: ctx})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", page)
		served = "the web page, " + served
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if d.Listen != "" {
			return nil, fmt.Errorf("daemon listen: %w", err)
		}
		a.out.warn("web page", fmt.Errorf("not served: %w", err))
		return stop, nil
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(l) }()
	a.out.infof("serving %s on http://%s/", served, l.Addr())
	closers = append([]func(){func() { _ = srv.Close() }}, closers...)
	return stop, nil
}

// webPassword is the page's password: from daemon.web.password-file,
// else LIFEBOAT_WEB_PASSWORD; "" if neither is set.
func (a *app) webPassword() (string, error) {
	if f := a.cfg.Daemon.Web.PasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("daemon.web.password-file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", errors.New("daemon.web.password-file is empty")
		}
		return pw, nil
	}
	return a.getenv("LIFEBOAT_WEB_PASSWORD"), nil
}

// daemonPage is what the page shows (web.Source): the scheduler's jobs,
// the engine's volumes with the jobs that select them, and the
// repository's snapshots. Jobs it starts run in the daemon's context.
// The snapshot list comes from a handle kept open (no lock: it only lists
// snapshots) and a SnapshotSet, so that a page costs one listing, not a
// key derivation and every snapshot file; reads of file data open a
// handle of their own, locked.
type daemonPage struct {
	a   *app
	s   *daemon.Scheduler
	ctx context.Context

	mu     sync.Mutex
	reader *repository.Repository
	done   func()
	snaps  repository.SnapshotSet
}

// close releases the kept handle.
func (p *daemonPage) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		p.done()
		p.reader, p.done = nil, nil
	}
}

func (p *daemonPage) Jobs() []daemon.JobStatus { return p.s.Status() }

func (p *daemonPage) Run(job string) error { return p.s.Start(p.ctx, job) }

func (p *daemonPage) PathJobs() []web.PathJob {
	var out []web.PathJob
	for _, j := range p.a.cfg.Daemon.Jobs {
		if len(j.Paths) > 0 {
			out = append(out, web.PathJob{Job: j.Name, Paths: j.Paths})
		}
	}
	return out
}

func (p *daemonPage) History(job string) []daemon.Run { return p.s.History(job) }

func (p *daemonPage) Volumes(ctx context.Context) ([]volumes.VolumeState, error) {
	eng, err := p.a.engineFor(ctx, "", p.a.dockerContext)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	sels := map[string]volumes.Selection{}
	for _, j := range p.a.cfg.Daemon.Jobs {
		if len(j.Paths) == 0 && !j.Maintenance() {
			sels[j.Name] = jobSelection(j)
		}
	}
	return volumes.Inventory(ctx, eng, sels)
}

func (p *daemonPage) Repository(ctx context.Context) (*repository.Repository, func(), error) {
	return p.a.openRepository(ctx, sharedLock, true)
}

// RestoreVolume restores into a volume as `restore --to-volume` does:
// without replace a volume that holds data is refused; with it, as with
// --force, its labelled users are stopped for the restore and unlabelled
// running ones make it refuse (volumes.Restore).
func (p *daemonPage) RestoreVolume(ctx context.Context, ref, volume string, replace bool) error {
	o := volumes.RestoreOptions{Volume: volume, Force: replace}
	if err := o.Validate(); err != nil {
		return err
	}
	repo, done, err := p.a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	o.Snapshot, err = findSnapshot(ctx, repo, ref, repository.Filter{})
	done()
	if err != nil {
		return err
	}
	eng, err := p.a.engineFor(ctx, "", p.a.dockerContext)
	if err != nil {
		return err
	}
	defer eng.Close()
	_, err = volumes.Restore(ctx, eng, p.a.sidecars(), reporter{p.a}, o)
	return err
}

func (p *daemonPage) Snapshots(ctx context.Context) ([]*repository.Snapshot, error) {
	p.mu.Lock()
	if p.reader == nil {
		repo, done, err := p.a.openRepository(p.ctx, withoutLock, false)
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.reader, p.done = repo, done
	}
	reader := p.reader
	p.mu.Unlock()
	return p.snaps.Refresh(ctx, reader)
}
