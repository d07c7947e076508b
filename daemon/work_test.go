package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
)

// A scheduled backup that finds the repository locked waits and tries
// again on the daemon's clock, then forgets by its policy; a backup that
// fails otherwise, or stays locked past the last retry, forgets nothing.
func TestBackupJobRetriesWhileLocked(t *testing.T) {
	locked := fmt.Errorf("prune holds it: %w", repository.ErrLocked)
	other := errors.New("the engine is gone")
	for _, tc := range []struct {
		name        string
		backupErrs  []error // one per attempt; the last repeats
		forgetErrs  []error
		forget      bool
		wantErr     error
		wantBackups int
		wantForgets int
		wantDelays  []time.Duration
	}{
		{name: "locked twice", backupErrs: []error{locked, locked, nil}, forget: true, forgetErrs: []error{nil},
			wantBackups: 3, wantForgets: 1, wantDelays: []time.Duration{5 * time.Second, 10 * time.Second}},
		{name: "forget locked once", backupErrs: []error{nil}, forget: true, forgetErrs: []error{locked, nil},
			wantBackups: 1, wantForgets: 2, wantDelays: []time.Duration{5 * time.Second}},
		{name: "no policy", backupErrs: []error{nil}, wantBackups: 1},
		{name: "other error", backupErrs: []error{other}, forget: true, wantErr: other, wantBackups: 1},
		{name: "locked for good", backupErrs: []error{locked}, forget: true, wantErr: repository.ErrLocked, wantBackups: RetryAttempts + 1,
			wantDelays: []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
				RetryMax, RetryMax}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			var backups, forgets int
			var delays []time.Duration
			pick := func(errs []error, n int) error { return errs[min(n, len(errs)-1)] }
			job := BackupJob{Clock: clock, Waiting: func(d time.Duration) { delays = append(delays, d) },
				Backup: func(context.Context) (repository.Summary, error) {
					backups++
					return repository.Summary{BytesAdded: 42}, pick(tc.backupErrs, backups-1)
				}}
			if tc.forget {
				job.Forget = func(context.Context) error { forgets++; return pick(tc.forgetErrs, forgets-1) }
			}
			type outcome struct {
				res Result
				err error
			}
			done := make(chan outcome, 1)
			go func() { res, err := job.Run(context.Background()); done <- outcome{res, err} }()
			var out outcome
			for waits := 0; ; waits++ {
				select {
				case out = <-done:
				case <-clock.added:
					clock.advance(RetryMax)
					continue
				case <-time.After(10 * time.Second):
					t.Fatalf("the job neither finished nor waited after %d waits", waits)
				}
				break
			}
			if !errors.Is(out.err, tc.wantErr) || (tc.wantErr == nil) != (out.err == nil) {
				t.Fatalf("error %v, want %v", out.err, tc.wantErr)
			}
			if out.res.BytesAdded != 42 {
				t.Fatalf("result %+v, want the backup's summary", out.res)
			}
			if backups != tc.wantBackups || forgets != tc.wantForgets || !slices.Equal(delays, tc.wantDelays) {
				t.Fatalf("%d backups, %d forgets, delays %v; want %d, %d, %v", backups, forgets, delays, tc.wantBackups, tc.wantForgets, tc.wantDelays)
			}
		})
	}
}

// A job stopped while it waits for a retry ends with the context's error.
func TestRetryStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clock := newClock()
	done := make(chan error, 1)
	go func() {
		done <- Retry(ctx, clock, nil, func(context.Context) error { return repository.ErrLocked })
	}()
	clock.waitForWaiter(t)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want the context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Retry did not stop with its context")
	}
}
