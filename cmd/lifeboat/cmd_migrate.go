package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/spf13/cobra"
)

type migrateOptions struct {
	from, to               string // engine hosts
	fromContext, toContext string
	container              string
	stopSource             bool
	force                  bool
	direct                 bool
}

func newMigrateCmd(a *app) *cobra.Command {
	var o migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate [VOLUME...] --to HOST|--to-context NAME",
		Short: "Move volumes to another Docker engine through the repository",
		Long: `Back volumes up on the source engine and restore them on the destination engine
into fresh named volumes with the same names, labels, driver and options,
through the configured repository (both engines must reach it). Afterwards
each volume's file count and size on both sides are compared, and every
restored file is read back and checked against the snapshot.

Engines are given as for the docker CLI: --from/--to take a DOCKER_HOST value
(unix://, tcp://, ssh://), --from-context/--to-context a docker context; the
source defaults to the current engine. A destination volume that exists and
is not empty is refused unless --force.

While a volume is copied, the containers using it are handled as their
labels ask (lifeboat.stop, lifeboat.pause, lifeboat.pre/post, as for backup)
and started again afterwards; others get an "in use" warning. --stop-source
instead stops them before the copy and leaves them stopped, so that nothing
changes after it; if the migration fails, they are started again on the
source and the error says so.`,
		Example: `  lifeboat migrate pgdata uploads --from unix:///var/run/docker.sock --to ssh://admin@new-host
  lifeboat migrate --container shop-db --to-context prod-2 --stop-source`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.to == "" && o.toContext == "" {
				return usageError{errors.New("give the destination with --to or --to-context")}
			}
			if len(args) == 0 && o.container == "" {
				return usageError{errors.New("give volumes to migrate, or --container")}
			}
			return runMigrate(cmd.Context(), a, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "source engine (DOCKER_HOST syntax; default: the current engine)")
	f.StringVar(&o.fromContext, "from-context", "", "source docker context")
	f.StringVar(&o.to, "to", "", "destination engine (DOCKER_HOST syntax)")
	f.StringVar(&o.toContext, "to-context", "", "destination docker context")
	f.StringVar(&o.container, "container", "", "migrate the volumes this container uses")
	f.BoolVar(&o.stopSource, "stop-source", false, "stop the containers using a volume before its copy (they stay stopped)")
	f.BoolVar(&o.force, "force", false, "overwrite destination volumes that are not empty")
	f.BoolVar(&o.direct, "direct", false, "no shared repository: stream each volume from a sidecar on the source to one on the destination through lifeboat")
	return cmd
}

// engineFor resolves --X / --X-context to an engine.
func (a *app) engineFor(ctx context.Context, host, contextName string) (*sidecar.Engine, error) {
	ep := sidecar.Endpoint{Host: host}
	if host == "" {
		var err error
		if ep, err = sidecar.ResolveContext(contextName, "", a.getenv); err != nil {
			return nil, err
		}
	}
	ep.SSHOptions = a.getenv("LIFEBOAT_SSH_OPTIONS")
	return sidecar.ConnectEndpoint(ctx, ep)
}

// sourceStops remembers the containers that --stop-source stopped, so that
// a migration that fails starts them again instead of leaving them down.
type sourceStops struct {
	a        *app
	restarts []func(context.Context)
}

func (s *sourceStops) stop(ctx context.Context, src *sidecar.Engine, volume string) error {
	restart, err := src.StopUsers(ctx, volume, s.a.report)
	s.restarts = append(s.restarts, restart)
	return err
}

// undo starts the stopped containers again if err is a failure, and says
// so in the error.
func (s *sourceStops) undo(ctx context.Context, err *error) {
	if *err == nil || len(s.restarts) == 0 {
		return
	}
	for _, r := range s.restarts {
		r(context.WithoutCancel(ctx))
	}
	*err = fmt.Errorf("%w; the containers stopped on the source were started again", *err)
}

func runMigrate(ctx context.Context, a *app, o migrateOptions, names []string) (err error) {
	src, err := a.engineFor(ctx, o.from, o.fromContext)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	dst, err := a.engineFor(ctx, o.to, o.toContext)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer dst.Close()
	vols, err := src.Volumes(ctx, sidecar.Selection{Names: names, Container: o.container})
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if len(vols) == 0 {
		return errors.New("no volume to migrate")
	}
	stops := &sourceStops{a: a}
	defer stops.undo(ctx, &err)
	if o.direct {
		return a.migrateDirect(ctx, src, dst, vols, o, stops)
	}
	job, err := a.jobFor(ctx, src)
	if err != nil {
		return err
	}
	skipped := func(v sidecar.Volume, err error) { a.out.warn(v.Name, err) }
	consistent := src.Consistent(ctx, a.report, skipped)
	prepare := func(v sidecar.Volume) (bool, func()) {
		a.out.infof("copying volume %s from %s", v.Name, src.Host())
		if !o.stopSource {
			return consistent(v)
		}
		if err := stops.stop(ctx, src, v.Name); err != nil {
			skipped(v, err)
			return false, nil
		}
		return true, func() {}
	}
	_, reports, err := src.BackupVolumes(ctx, job, sidecar.JobsFor(vols), hostOr(a.cfg.Host), []string{"migrate"}, prepare)
	if err != nil {
		return err
	}
	snapshots, failed := savedSnapshots(vols, reports, false)
	if len(failed) > 0 {
		return fmt.Errorf("could not copy volumes %s; nothing was restored", strings.Join(failed, ", "))
	}
	dstJob, err := a.jobFor(ctx, dst)
	if err != nil {
		return err
	}
	type outcome struct {
		Volume   string `json:"volume"`
		Snapshot string `json:"snapshot"`
		Files    int64  `json:"files"`
		Bytes    int64  `json:"bytes"`
		Match    bool   `json:"match"`
	}
	var results []outcome
	repo, done, err := a.openRepository(ctx, withoutLock, false)
	if err != nil {
		return err
	}
	defer done()
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return err
	}
	for _, v := range vols {
		id := snapshots[v.Name]
		sn, err := repository.FindSnapshot(all, id, repository.Filter{})
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if ok, err := dst.VolumeExists(ctx, v.Name); err != nil {
			return err
		} else if !ok {
			if err := dst.CreateVolume(ctx, v.Name, sn.Volume, id); err != nil {
				return err
			}
		}
		var res struct {
			Files, Bytes, Links, LinkBytes, Verified int64
		}
		dstJob.Lines = func(b []byte) {
			var m struct {
				Type   string
				Result struct {
					Files, Bytes, Verified int64
					Links                  int64 `json:"hard_links"`
					LinkBytes              int64 `json:"hard_link_bytes"`
				}
			}
			if json.Unmarshal(b, &m) == nil && m.Type == "summary" {
				res.Files, res.Bytes, res.Verified = m.Result.Files, m.Result.Bytes, m.Result.Verified
				res.Links, res.LinkBytes = m.Result.Links, m.Result.LinkBytes
			}
		}
		a.out.infof("restoring volume %s on %s", v.Name, dst.Host())
		code, err := dst.RestoreVolume(ctx, dstJob, id, v.Name, o.force, true)
		if err != nil {
			return err
		}
		if code != exitOK {
			return fmt.Errorf("volume %s: restore on the destination failed (exit %d; a volume that exists and is not empty needs --force)", v.Name, code)
		}
		// Every file the snapshot holds was written and read back against
		// it. The snapshot's summary is not the measure: its totals were
		// counted before the files were read, and a file that grew while
		// it was read holds more.
		files, size := res.Files+res.Links, res.Bytes+res.LinkBytes
		match := res.Verified == res.Files
		results = append(results, outcome{Volume: v.Name, Snapshot: id, Files: files, Bytes: size, Match: match})
	}
	mismatch := 0
	a.out.result("migrate", map[string]any{"from": src.Host(), "to": dst.Host(), "volumes": results}, func(w io.Writer) {
		for _, r := range results {
			verdict := "match"
			if !r.Match {
				verdict = "DIFFER"
			}
			fmt.Fprintf(w, "%s: %d files, %s on both sides, content verified: %s\n", r.Volume, r.Files, formatBytes(r.Bytes), verdict)
		}
	})
	for _, r := range results {
		if !r.Match {
			mismatch++
		}
	}
	if mismatch > 0 {
		return fmt.Errorf("%d volumes differ after the migration", mismatch)
	}
	return nil
}

// migrateDirect streams each volume through the CLI, sealed in a private
// repository that exists only for the copy.
func (a *app) migrateDirect(ctx context.Context, src, dst *sidecar.Engine, vols []sidecar.Volume, o migrateOptions, stops *sourceStops) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	images := make([]string, 2)
	for i, e := range []*sidecar.Engine{src, dst} {
		if images[i], err = e.EnsureImage(ctx, exe, a.version); err != nil {
			return err
		}
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	password := []byte(hex.EncodeToString(secret))
	for _, v := range vols {
		if o.stopSource {
			if err := stops.stop(ctx, src, v.Name); err != nil {
				return err
			}
		}
		info, err := src.VolumeInfoJSON(ctx, v)
		if err != nil {
			return err
		}
		if ok, err := dst.VolumeExists(ctx, v.Name); err != nil {
			return err
		} else if !ok {
			if err := dst.CreateVolumeLike(ctx, v); err != nil {
				return err
			}
		}
		a.out.infof("streaming volume %s from %s to %s", v.Name, src.Host(), dst.Host())
		resume := func(context.Context) {}
		if !o.stopSource { // the same consistency rules as every copy
			if resume, err = src.Quiesce(ctx, v.Name, a.report); err != nil {
				resume(context.WithoutCancel(ctx))
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		err = sidecar.Direct(ctx, src, dst, images[0], images[1], v, info, v.Name, password, o.force)
		resume(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("volume %s: %w (a volume that exists and is not empty needs --force)", v.Name, err)
		}
		a.out.infof("volume %s: copied and verified", v.Name)
	}
	return nil
}
