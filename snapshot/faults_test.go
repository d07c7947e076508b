package snapshot_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/faulty"
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
	kdf := func() (crypto.KDFParams, error) { return crypto.NewKDF(1, 64, 1) }
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
			store := mem.New()
			init, err := repository.Init(ctx, store, []byte("pw"), repository.Options{KDF: kdf, PackSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			init.Close()
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
				if err == nil {
					saved++
				} else {
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
		})
	}
}

