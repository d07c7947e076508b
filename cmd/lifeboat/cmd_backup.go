package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/spf13/cobra"
)

type backupOptions struct {
	volumes volumeFlags
	paths   []string
	tags    []string
	parent  string
	force   bool
}

func newBackupCmd(a *app) *cobra.Command {
	var o backupOptions
	cmd := &cobra.Command{
		Use:   "backup [VOLUME...] | --path DIR [--path DIR...]",
		Short: "Back up Docker volumes or directories into new snapshots",
		Long: `Back up Docker named volumes (by name, --label, --container, --dangling or
--all), each into its own snapshot, or directories and files (--path).

A volume is backed up by a sidecar container that lifeboat builds from its own
executable (no registry needed) and that mounts the volume read-only; the
snapshot records the volume's name, labels, driver and options. The Docker
engine comes from DOCKER_HOST as for the docker CLI.

With one --path the snapshot's root is that directory, its owner and mode
included; with several, the root holds each under its base name.

Files unchanged since the parent snapshot (same size, mtime, ctime and inode)
are not read again. The parent is the newest snapshot of the same host and
paths, or --parent; --force reads everything.

Entries that cannot be read (permission denied, vanished during the backup)
are reported and left out; the snapshot is still saved, marked incomplete, and
the exit code is 3. Ctrl-C stops the backup without saving a snapshot; chunks
already uploaded are reused by the next run.

` + exitCodeHelp,
		Example: `  lifeboat backup pgdata uploads
  lifeboat backup --label app=shop --tag nightly
  lifeboat backup --path /data --tag nightly
  lifeboat backup --path /etc --path /home --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, volumes := o.volumes.selection(args)
			if err := sel.Validate(); err != nil {
				return usageError{err}
			}
			if err := repository.ValidateTags(o.tags); err != nil {
				return usageError{err}
			}
			switch {
			case volumes && len(o.paths) > 0:
				return usageError{fmt.Errorf("give volumes or --path, not both")}
			case volumes:
				_, err := a.backupVolumes(cmd.Context(), o, sel)
				return err
			case len(o.paths) == 0:
				return usageError{fmt.Errorf("give volumes to back up, or --path")}
			}
			return runBackup(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.paths, "path", nil, "directory or file to back up (repeatable)")
	f.StringArrayVar(&o.tags, "tag", nil, "tag for the snapshot (repeatable)")
	f.String("host", "", "host name to record (default: this machine's name; env LIFEBOAT_HOST)")
	f.StringVar(&o.parent, "parent", "", "snapshot to compare with for unchanged files (default: latest of same host and paths)")
	f.BoolVar(&o.force, "force", false, "read and cut every file afresh, even if unchanged since the parent")
	f.BoolVar(&o.volumes.all, "all", false, "back up every volume")
	f.StringArrayVar(&o.volumes.labels, "label", nil, "back up the volumes with this label (key or key=value; repeatable: all must match)")
	f.StringVar(&o.volumes.container, "container", "", "back up the volumes a container uses")
	f.BoolVar(&o.volumes.dangling, "dangling", false, "back up the volumes no container uses")
	f.StringVar(&o.volumes.from, "volumes-from", "", "back up a container's volumes, attached to the sidecar with --volumes-from (read-only)")
	return cmd
}

func runBackup(ctx context.Context, a *app, o backupOptions) error {
	repo, done, err := a.openRepository(ctx, sharedLock, true)
	if err != nil {
		return err
	}
	defer done()
	sn, err := backupPaths(ctx, a, repo, o, a.snapshotHost(ctx), nil)
	if err != nil {
		return err
	}
	if sn.Incomplete {
		return fmt.Errorf("snapshot %s saved, but %d entries were left out: %w", sn.ID.Short(), sn.Summary.Errors, snapshot.ErrIncomplete)
	}
	return nil
}

// backupPaths makes one snapshot of o.paths in an open repository and
// prints its summary.
func backupPaths(ctx context.Context, a *app, repo *repository.Repository, o backupOptions, host string, vol *repository.VolumeInfo) (*repository.Snapshot, error) {
	abs := make([]string, len(o.paths))
	for i, p := range o.paths {
		var err error
		if abs[i], err = filepath.Abs(p); err != nil {
			return nil, err
		}
	}
	skip, err := skipRepository(repo.Target().Location(), abs)
	if err != nil {
		return nil, err
	}
	for _, s := range skip {
		a.out.warn(s, errors.New("the repository lies inside the path backed up: left out (a backup never stores the repository into itself)"))
	}
	parent, err := findParent(ctx, repo, o.parent, host, abs, o.force)
	if err != nil {
		return nil, err
	}
	if parent != nil {
		a.out.infof("using parent snapshot %s", parent.ID.Short())
	}
	p := &snapshot.Progress{}
	arch := snapshot.New(repo, snapshot.Options{
		Host: host, Tags: o.tags, Parent: parent, Force: o.force, ProgramVersion: a.version, Volume: vol,
		Progress: p, OnError: a.out.warn, OnWarning: a.out.warn, Skip: skip,
	})
	stop := a.startProgress("backup", func() progressStatus {
		return progressStatus{
			FilesDone: p.FilesDone.Load(), BytesDone: p.BytesDone.Load(), Errors: p.Errors.Load(),
			TotalFiles: p.TotalFiles.Load(), TotalBytes: p.TotalBytes.Load(), TotalKnown: p.ScanDone.Load(),
		}
	})
	sn, err := arch.Run(ctx, abs)
	stop()
	if err != nil {
		return nil, err
	}
	printBackupSummary(a, sn)
	return sn, nil
}

func findParent(ctx context.Context, repo *repository.Repository, ref, host string, paths []string, force bool) (*repository.Snapshot, error) {
	if force && ref == "" {
		return nil, nil
	}
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	if ref != "" {
		return repository.FindSnapshot(all, ref, repository.Filter{})
	}
	s, err := repository.FindSnapshot(all, "latest", repository.Filter{Host: host, Paths: paths})
	if err != nil {
		return nil, nil // first backup of these paths
	}
	return s, nil
}

func printBackupSummary(a *app, sn *repository.Snapshot) {
	s := sn.Summary
	a.out.result(messages.MsgSummary, messages.BackupSummary{SnapshotID: sn.ID.String(), Incomplete: sn.Incomplete, Summary: s}, func(w io.Writer) {
		if a.out.quiet {
			return
		}
		fmt.Fprintf(w, "Files:       %d new, %d changed, %d unchanged\n", s.FilesNew, s.FilesChanged, s.FilesUnchanged)
		fmt.Fprintf(w, "Dirs:        %d new, %d changed, %d unchanged\n", s.DirsNew, s.DirsChanged, s.DirsUnchanged)
		fmt.Fprintf(w, "Read:        %s of %s in %d files\n", human.Bytes(s.BytesRead), human.Bytes(s.TotalBytes), s.TotalFiles)
		fmt.Fprintf(w, "Added:       %s (%s stored)\n", human.Bytes(s.BytesAdded), human.Bytes(s.StoredAdded))
		if s.Errors > 0 {
			fmt.Fprintf(w, "Errors:      %d entries left out\n", s.Errors)
		}
		fmt.Fprintf(w, "Duration:    %s\n", time.Duration(s.DurationSecond*float64(time.Second)).Round(10*time.Millisecond))
		fmt.Fprintf(w, "snapshot %s saved\n", sn.ID.Short())
	})
}

// skipRepository returns the repository's directory if it lies inside one
// of the paths to back up (to be left out), and refuses a path that is
// the repository or lies inside it. repoDir is the repository's location;
// one that is not a local directory (s3://, gs://) concerns no path.
func skipRepository(repoDir string, paths []string) ([]string, error) {
	if !filepath.IsAbs(repoDir) {
		return nil, nil
	}
	repo := resolved(repoDir)
	var skip []string
	for _, p := range paths {
		rp := resolved(p)
		if within(rp, repo) {
			return nil, usageError{fmt.Errorf("--path %s is the repository or lies inside it: a backup never stores the repository into itself", p)}
		}
		if within(repo, rp) {
			rel, _ := filepath.Rel(rp, repo)
			skip = append(skip, filepath.Join(p, rel)) // as the walk below p meets it
		}
	}
	return skip, nil
}

// resolved is p with its symlinks resolved, or p when it cannot be.
func resolved(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// within reports whether p is dir or lies below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
