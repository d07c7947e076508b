package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-backup/lifeboat/configs"
	"github.com/lifeboat-backup/lifeboat/internal/human"
	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/spf13/cobra"
)

type restoreOptions struct {
	target    string
	include   []string
	exclude   []string
	overwrite string
	delete    bool
	verify    bool
	// keepDamaged writes a file whose data is partly lost as
	// NAME.lifeboat-damaged.
	keepDamaged bool
	noLock      bool
	toVolume    string
	force       bool
	base        string
	f           filterFlags
}

func newRestoreCmd(a *app) *cobra.Command {
	var o restoreOptions
	cmd := &cobra.Command{
		Use:   "restore SNAPSHOT --target DIR | --to-volume NAME",
		Short: "Restore a snapshot into a directory or a fresh Docker volume",
		Long: `Restore a snapshot into --target, with every kind of metadata: owner and
group (as root), mode with setuid/setgid/sticky, times, xattrs and ACLs,
symlinks, hard links, sparse files, fifos and device nodes. The target
directory gets the owner and mode of the backed-up root.

A target that is not empty is refused unless --overwrite says what to do with
existing entries: always (replace files), if-changed (replace files whose size
or mtime differ) or never (keep them). With --delete (and always or
if-changed), the target is made equal to the snapshot: entries the snapshot
does not hold are removed, as are entries of another kind in the way.

--base names the snapshot the target already holds (an earlier restore into
it): a delta restore, with --overwrite if-changed --delete. A file whose size
and modification time are still those --base gives it is patched in place,
only the chunks that differ between the two snapshots being written; a file
changed since is written whole, as without --base. With --verify, the files
written or patched are read back.

Nothing appears in the target before it is complete: an empty target is
filled through a hidden staging directory whose entries are moved into place
at the end (a failed restore leaves the target empty), and with --overwrite
each file is written under a temporary name and renamed when complete.
Nothing is ever written outside the target, whatever names or symlinks the
snapshot or the target contain.

Damage in the repository costs only what it holds: a file whose data is in a
damaged or missing pack is left out (never written with wrong bytes), a
directory whose listing is lost is left out with what is below it, everything
else is restored, and the restore lists each path it left out with the byte
ranges lost, then exits 3. --keep-damaged writes such a file as
NAME.lifeboat-damaged with the lost ranges as zeros. Then run lifeboat check
--read-data and the repair it names. --verify reads every file back and checks it
(before anything is moved into an empty target).

With --to-volume, the snapshot is restored into a Docker named volume by a
sidecar container (--volume NAME alone restores into NAME itself): a volume that does not exist is created with the labels,
driver and options the snapshot recorded (plus org.lifeboat.restored-from);
one that exists and is not empty is refused unless --force, which makes it
equal to the snapshot (files the snapshot does not hold are removed); with
--force, --base restores only what differs from the snapshot the volume holds.

SNAPSHOT is "latest" (filtered by --host, --tag, --path, --volume) or an id prefix.
Patterns (--include, --exclude) use shell syntax: one with a slash matches the
path from the snapshot root ("/etc/*.conf"), one without matches any name.`,
		Example: `  lifeboat restore latest --volume pgdata --to-volume pgdata-restored
  lifeboat restore 3f2a9c --to-volume pgdata
  lifeboat restore latest --target /restore
  lifeboat restore 3f2a9c --target /tmp/r --include '/etc/*' --verify
  lifeboat restore latest --target /srv/data --overwrite if-changed --delete
  lifeboat restore 9b1e04 --target /srv/data --overwrite if-changed --delete --base 3f2a9c
  lifeboat restore 9b1e04 --to-volume pgdata-copy --force --base 3f2a9c`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.toVolume == "" && o.target == "" && o.f.volume != "" {
				o.toVolume = o.f.volume // back into the volume it came from
			}
			switch {
			case o.toVolume != "" && o.target != "":
				return usageError{fmt.Errorf("give --target or --to-volume, not both")}
			case o.toVolume != "":
				return a.runVolumeRestore(cmd.Context(), o, args[0])
			case o.target == "":
				return usageError{fmt.Errorf("--target or --to-volume is required")}
			}
			return runRestore(cmd.Context(), a, o, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.target, configs.FlagTarget, "t", "", "directory to restore into (created if missing)")
	fl.StringArrayVar(&o.include, "include", nil, "restore only paths matching this pattern (repeatable)")
	fl.StringArrayVar(&o.exclude, "exclude", nil, "do not restore paths matching this pattern (repeatable)")
	fl.StringVar(&o.overwrite, configs.FlagOverwrite, "", "what to do with existing entries: always, if-changed or never")
	fl.BoolVar(&o.delete, configs.FlagDelete, false, "with --overwrite always|if-changed: remove what the snapshot does not hold, so the target equals it")
	fl.BoolVar(&o.verify, configs.FlagVerify, false, "read restored files back and check them against the snapshot")
	fl.BoolVar(&o.keepDamaged, configs.FlagKeepDamaged, false, "write a file whose data is partly damaged as NAME"+restore.DamagedSuffix+" (lost bytes as zeros) instead of leaving it out")
	fl.StringVar(&o.toVolume, "to-volume", "", "restore into this Docker volume (created if missing)")
	fl.BoolVar(&o.force, "force", false, "with --to-volume: make a volume that is not empty equal to the snapshot")
	fl.StringVar(&o.base, configs.FlagBase, "", "delta restore: the snapshot the target (or volume) holds; only what differs from it is written")
	a.worker.AddOrderFlag(fl)
	fl.BoolVar(&o.noLock, "no-lock", false, "take no lock (for a read-only repository; a concurrent prune could then break the restore)")
	o.f.register(cmd)
	return cmd
}

func runRestore(ctx context.Context, a *app, o restoreOptions, ref string) error {
	ow, err := restore.ParseOverwrite(o.overwrite)
	if err != nil {
		return usageError{err}
	}
	opts := restore.Options{Selector: restore.Selector{Include: o.include, Exclude: o.exclude}, Overwrite: ow, Delete: o.delete, Verify: o.verify, KeepDamaged: o.keepDamaged}
	if o.base != "" || a.worker.OrderOnInput() {
		opts.Base = &repository.Snapshot{} // found once the repository is open
	}
	if err := opts.Validate(); err != nil { // before the repository is opened
		return usageError{err}
	}
	// A shared lock, taken before the index is read: garbage collection
	// must not delete packs under the restore.
	mode := sharedLock
	if o.noLock {
		mode = withoutLock
	}
	repo, done, err := a.openRepository(ctx, mode, true)
	if err != nil {
		return noLockHint(err)
	}
	defer done()
	if a.worker.OrderOnInput() {
		if ref, o.base, err = a.worker.ReadOrder(ctx, repo); err != nil {
			return err
		}
	}
	sn, err := findSnapshot(ctx, repo, ref, o.f.filter())
	if err != nil {
		return err
	}
	if opts.Base, err = findBase(ctx, repo, o.base); err != nil {
		return err
	}
	a.out.infof("restoring snapshot %s of %s to %s", sn.ID.Short(), sn.Time.Local().Format("2006-01-02 15:04:05"), o.target)
	p := &restore.Progress{}
	stop := a.startProgress("restore", func() progressStatus {
		return progressStatus{FilesDone: p.FilesDone.Load(), BytesDone: p.BytesDone.Load(),
			TotalFiles: p.TotalFiles.Load(), TotalBytes: p.TotalBytes.Load(), TotalKnown: p.PlanDone.Load()}
	})
	start := time.Now()
	opts.Progress = p
	res, err := restore.Run(ctx, repo, sn, o.target, opts)
	stop()
	if err != nil && !errors.Is(err, restore.ErrIncomplete) {
		return err
	}
	a.out.result(messages.MsgSummary, messages.RestoreSummary{SnapshotID: sn.ID.String(), Target: o.target, Result: *res,
		DurationSeconds: time.Since(start).Seconds()}, func(w io.Writer) {
		if a.out.quiet { // what was left out is still said
			printDamage(w, res)
			return
		}
		if res.Finished {
			fmt.Fprintln(w, "finished an interrupted restore of this snapshot: the target now holds all of it")
		} else {
			fmt.Fprintf(w, "restored %d files (%s), %d directories, %d other entries, %d hard links in %s\n",
				res.Files, human.Bytes(res.Bytes), res.Dirs, res.Others, res.Links, time.Since(start).Round(10*time.Millisecond))
		}
		if res.Patched > 0 {
			fmt.Fprintf(w, "patched %d files, writing %s of their %s\n", res.Patched, human.Bytes(res.Written), human.Bytes(res.Bytes))
		}
		if res.Deleted > 0 {
			fmt.Fprintf(w, "removed %d entries the snapshot does not hold (--delete)\n", res.Deleted)
		}
		if res.Skipped > 0 {
			fmt.Fprintf(w, "kept %d existing entries (--overwrite %s)\n", res.Skipped, ow)
		}
		if o.verify {
			fmt.Fprintf(w, "verified %d files\n", res.Verified)
		}
		printDamage(w, res)
	})
	return restoreIncomplete(err)
}

// findBase finds the snapshot --base names (any host or path), or nil if
// none is named.
func findBase(ctx context.Context, repo *repository.Repository, ref string) (*repository.Snapshot, error) {
	if ref == "" {
		return nil, nil
	}
	sn, err := findSnapshot(ctx, repo, ref, repository.Filter{})
	if err != nil {
		return nil, fmt.Errorf("--base: %w", err)
	}
	return sn, nil
}
