package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/daemon"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/volumes"
	"github.com/lifeboat-backup/lifeboat/web"
)

// defaultListen is where the daemon serves its page without listen:.
const defaultListen = "127.0.0.1:9123"

// serveDaemon serves the web page, /healthz and /metrics on the daemon's
// listen address. An address given in the config that cannot be used is
// an error; the default one (another daemon may hold it) is a warning.
// The page itself is left out, with a warning, where CheckListen refuses
// it: the health and metrics stay.
func (a *app) serveDaemon(ctx context.Context, s *daemon.Scheduler) (stop func(), err error) {
	d := a.cfg.Daemon
	addr := d.Listen
	if addr == "" {
		addr = defaultListen
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
		page, err := web.New(daemonPage{a: a, s: s, ctx: ctx}, web.Options{Host: a.snapshotHost(ctx), ReadOnly: d.Web.ReadOnly, Password: password, Context: ctx})
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
		return func() {}, nil
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(l) }()
	a.out.infof("serving %s on http://%s/", served, l.Addr())
	return func() { _ = srv.Close() }, nil
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
type daemonPage struct {
	a   *app
	s   *daemon.Scheduler
	ctx context.Context
}

func (p daemonPage) Jobs() []daemon.JobStatus { return p.s.Status() }

func (p daemonPage) Run(job string) error { return p.s.Start(p.ctx, job) }

func (p daemonPage) Volumes(ctx context.Context) ([]volumes.VolumeState, error) {
	eng, err := p.a.engineFor(ctx, "", p.a.dockerContext)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	sels := map[string]volumes.Selection{}
	for _, j := range p.a.cfg.Daemon.Jobs {
		if len(j.Paths) == 0 && !j.PruneOnly() {
			sels[j.Name] = jobSelection(j)
		}
	}
	return volumes.Inventory(ctx, eng, sels)
}

func (p daemonPage) Repository(ctx context.Context) (*repository.Repository, func(), error) {
	return p.a.openRepository(ctx, sharedLock, true)
}

// RestoreVolume restores into a volume as `restore --to-volume` does
// without --force: a volume that holds data is refused.
func (p daemonPage) RestoreVolume(ctx context.Context, ref, volume string) error {
	o := volumes.RestoreOptions{Volume: volume}
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

func (p daemonPage) Snapshots(ctx context.Context) ([]*repository.Snapshot, error) {
	repo, done, err := p.a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return nil, err
	}
	defer done()
	return repo.Snapshots(ctx)
}
