package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/faulty"
	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
	"github.com/lifeboat-backup/lifeboat/targets/retry"
)

// Backups through a store that fails requests, loses replies and cuts
// reads short either complete or fail with an error; in both cases the
// repository, seen without faults, passes check --read-data, and whatever
// snapshots were saved restore.
func TestBackupUnderFaults(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 40; i++ {
		write(t, dir, fmt.Sprintf("f%02d", i), treetest.RandomBytes(uint64(i), 200_000+i*50_000))
	}
	for _, tc := range []struct {
		name     string
		attempts int
		cfg      faulty.Config
	}{
		{"retried", 10, faulty.Config{Seed: 1, ErrorRate: 0.15, LostReplyRate: 0.1, ShortReadRate: 0.2}},
		{"not retried", 1, faulty.Config{Seed: 2, ErrorRate: 0.02, LostReplyRate: 0.02, ShortReadRate: 0.02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := repotest.Init(t, mem.New(), repository.Options{PackSize: 1 << 20})
			policy := retry.Policy{Attempts: tc.attempts, Base: time.Microsecond, Max: time.Microsecond,
				Sleep: func(context.Context, time.Duration) error { return nil }}
			f := faulty.New(store, tc.cfg)
			var tg targets.Target = retry.Wrap(f, policy)
			saved, runs := 0, 6
			for run := 0; run < runs; run++ {
				r, err := repository.Open(ctx, tg, []byte("pw"), repository.Options{})
				var lock *repository.Lock
				if err == nil {
					lock, err = r.LockAndLoad(ctx, false)
				}
				if err == nil {
					_, err = snapshot.New(r, snapshot.Options{Force: true}).Run(ctx, []string{dir})
					_ = lock.Unlock(ctx) // a lost unlock leaves a shared lock: harmless here
				}
				switch {
				case err == nil:
					saved++
				case !errors.Is(err, faulty.ErrInjected):
					t.Fatalf("run %d failed, not by an injected fault: %v", run, err)
				default:
					t.Logf("run %d failed cleanly: %v", run, err)
				}
			}
			t.Logf("%d faults injected, %d of %d backups saved", f.Injected.Load(), saved, runs)
			if f.Injected.Load() == 0 {
				t.Fatal("no faults were injected")
			}
			if tc.attempts > 1 && saved != runs {
				t.Fatalf("with retries every backup should complete, %d did", saved)
			}
			clean, err := repository.Open(ctx, store, []byte("pw"), repository.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := checker.Check(ctx, clean, checker.Options{ReadData: true})
			if err != nil || !rep.OK() {
				t.Fatalf("check after faults: %v %+v", err, rep)
			}
			// A lost reply can hide a snapshot that was saved, never the reverse.
			if rep.Snapshots < saved {
				t.Fatalf("%d snapshots, but %d backups reported success", rep.Snapshots, saved)
			}
			// Whatever was saved restores equal to the source.
			lock, err := clean.LockAndLoad(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Unlock(ctx)
			snaps, err := clean.Snapshots(ctx)
			if err != nil || len(snaps) != rep.Snapshots {
				t.Fatalf("%d snapshots listed, check saw %d: %v", len(snaps), rep.Snapshots, err)
			}
			for _, sn := range snaps {
				out := t.TempDir()
				if _, err := restore.Run(ctx, clean, sn, out, restore.Options{Verify: true}); err != nil {
					t.Fatalf("restore %s: %v", sn.ID.Short(), err)
				}
				if err := treetest.Compare(dir, out); err != nil {
					t.Fatalf("snapshot %s differs from the source:\n%v", sn.ID.Short(), err)
				}
			}
		})
	}
}

// A backup whose write fails at any one point of the write path (each pack
// upload, each index file, the snapshot) fails, and leaves no snapshot that
// names missing data: the repository, read without faults, passes check.
func TestBackupFailsAtEveryWriteFailure(t *testing.T) {
	dir := t.TempDir()
	// Equal, incompressible files below the minimum chunk size: one blob
	// each, six to a 1 MiB pack, so every run writes the same objects.
	for i := 0; i < 60; i++ {
		write(t, dir, fmt.Sprintf("f%02d", i), treetest.RandomBytes(uint64(i), 200_000))
	}
	ctx := context.Background()
	newStore := func() *mem.Target { return repotest.Init(t, mem.New(), repository.Options{PackSize: 1 << 20}) }
	// backup runs one backup through hook; the target does not retry, as
	// after a retry layer that has given up.
	backup := func(store *mem.Target, hook func(ctx context.Context, op, name string) error) (*faulty.Target, error) {
		f := faulty.New(store, faulty.Config{Hook: hook})
		r, err := repository.Open(ctx, f, []byte("pw"), repository.Options{})
		if err != nil {
			return f, err
		}
		defer r.Close()
		lock, err := r.LockAndLoad(ctx, false)
		if err != nil {
			return f, err
		}
		defer lock.Unlock(ctx)
		_, err = snapshot.New(r, snapshot.Options{}).Run(ctx, []string{dir})
		return f, err
	}
	kinds := []string{"data/", "index/", "snapshots/"}
	count := func(op, name string, into map[string]int) {
		for _, k := range kinds {
			if op == "put" && len(name) > len(k) && name[:len(k)] == k {
				into[k]++
			}
		}
	}

	// A clean run counts the writes of each kind.
	var mu sync.Mutex
	puts := map[string]int{}
	if _, err := backup(newStore(), func(_ context.Context, op, name string) error {
		mu.Lock()
		defer mu.Unlock()
		count(op, name, puts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("writes of a clean run: %v", puts)
	if puts["data/"] < 10 || puts["index/"] < 2 || puts["snapshots/"] != 1 {
		t.Fatalf("the data set should make at least 10 packs, 2 index files and 1 snapshot: %v", puts)
	}

	tried := 0
	for _, kind := range kinds {
		for n := 1; n <= puts[kind]; n++ {
			t.Run(fmt.Sprintf("%s%d", kind, n), func(t *testing.T) {
				store := newStore()
				seen := map[string]int{}
				f, err := backup(store, func(_ context.Context, op, name string) error {
					mu.Lock()
					defer mu.Unlock()
					count(op, name, seen)
					if op == "put" && seen[kind] == n && len(name) > len(kind) && name[:len(kind)] == kind {
						seen[kind]++ // fail this one write only
						return errors.New("disk on fire")
					}
					return nil
				})
				if f.Injected.Load() != 1 {
					t.Fatalf("the fault was injected %d times, want once", f.Injected.Load())
				}
				if err == nil || !errors.Is(err, faulty.ErrInjected) {
					t.Fatalf("backup with write %d of %s failing: err = %v, want the injected fault", n, kind, err)
				}
				// The error names the write that failed first, not one
				// that the cancellation failed afterwards.
				if want := map[string]string{"data/": "save pack", "index/": "save index", "snapshots/": "save snapshots"}[kind]; !strings.Contains(err.Error(), want) {
					t.Fatalf("backup with write %d of %s failing: %q does not name it (%q)", n, kind, err, want)
				}
				clean, err := repository.Open(ctx, store, []byte("pw"), repository.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer clean.Close()
				rep, err := checker.Check(ctx, clean, checker.Options{ReadData: true})
				if err != nil || !rep.OK() {
					t.Fatalf("check after a failed write: %v %+v", err, rep)
				}
				if rep.Snapshots != 0 {
					t.Fatalf("%d snapshots saved by a backup that failed", rep.Snapshots)
				}
			})
			tried++
		}
	}
	if tried != puts["data/"]+puts["index/"]+puts["snapshots/"] {
		t.Fatalf("tried %d failure points", tried)
	}
}
