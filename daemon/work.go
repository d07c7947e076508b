package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
)

// Retry runs work again while it fails because the repository is locked
// (a prune or another job holds it): after Retry's delays, doubling from
// RetryFirst up to RetryMax, RetryAttempts times at most, then it gives up
// with the lock error. Any other outcome ends it at once. waiting, if set,
// is told each delay before it starts.
func Retry(ctx context.Context, clock Clock, waiting func(time.Duration), work func(context.Context) error) error {
	delay := RetryFirst
	for attempt := 0; ; attempt++ {
		err := work(ctx)
		if !errors.Is(err, repository.ErrLocked) || attempt == RetryAttempts {
			return err
		}
		if waiting != nil {
			waiting(delay)
		}
		select {
		case <-clock.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay = min(2*delay, RetryMax)
	}
}

// The delays of Retry: 5 s, 10 s, ... 5 min, 8 retries (about 13 minutes
// in all).
const (
	RetryFirst    = 5 * time.Second
	RetryMax      = 5 * time.Minute
	RetryAttempts = 8
)

// BackupJob is the work of a scheduled backup: Backup, then, if the job has
// a retention policy, Forget, each retried while the repository is locked.
// A failed backup forgets nothing.
type BackupJob struct {
	Backup func(context.Context) (repository.Summary, error)
	Forget func(context.Context) error // nil: the job keeps every snapshot
	Clock  Clock
	// Waiting is told each delay of a retry.
	Waiting func(time.Duration)
}

// Run runs the job; it is a Job's Run.
func (b BackupJob) Run(ctx context.Context) (Result, error) {
	var sum repository.Summary
	err := Retry(ctx, b.Clock, b.Waiting, func(ctx context.Context) error {
		var err error
		sum, err = b.Backup(ctx)
		return err
	})
	res := Result{BytesRead: sum.BytesRead, BytesAdded: sum.BytesAdded, Files: sum.TotalFiles, Errors: sum.Errors}
	if err != nil || b.Forget == nil {
		return res, err
	}
	return res, Retry(ctx, b.Clock, b.Waiting, b.Forget)
}
