package repository

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/lifeboat-backup/lifeboat/targets"
)

// Lock timing: a holder rewrites its lock every LockRefresh; a lock not
// rewritten for LockStaleAfter belongs to a process that is gone.
const (
	LockRefresh    = 5 * time.Minute
	LockStaleAfter = 30 * time.Minute
)

// ErrLocked: another process holds a conflicting lock.
var ErrLocked = errors.New("repository is locked")

// ErrNotLocked: a handle that is to add data read the index before it held
// a lock. The ordering rule (design.md, "Locks") is lock first, then read
// the index and the snapshots: a prune that ran in between could have
// deleted packs the index names, and the backup would skip their blobs as
// stored. It is a programming error, never a condition of the repository.
var ErrNotLocked = errors.New("the repository must be locked before its index is read")

// LockInfo is the content of locks/<random id>. There are three kinds.
// Backups, restores and checks take shared locks and run together. prune
// takes a prune lock: it excludes other prunes and exclusive locks only, as
// its deletions wait for the shared locks it saw (docs/design.md, "Prune
// beside running backups"). An exclusive lock (repair index, prune
// --exclusive) excludes every other lock.
type LockInfo struct {
	Time      time.Time `json:"time"` // last refresh
	Exclusive bool      `json:"exclusive"`
	Prune     bool      `json:"prune,omitempty"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Username  string    `json:"username,omitempty"`

	Name string `json:"-"`
}

func (l LockInfo) String() string {
	kind := "shared"
	switch {
	case l.Exclusive:
		kind = "exclusive"
	case l.Prune:
		kind = "prune"
	}
	return fmt.Sprintf("%s lock by PID %d on %s (user %s), refreshed %s", kind, l.PID, l.Host, l.Username, l.Time.Format(time.RFC3339))
}

// LockAndLoad takes a lock and then loads the index, in the order that
// the locking rule requires (see ErrNotLocked). The caller unlocks.
func (r *Repository) LockAndLoad(ctx context.Context, exclusive bool) (*Lock, error) {
	l, err := r.Lock(ctx, exclusive)
	if err != nil {
		return nil, err
	}
	if err := r.LoadIndex(ctx); err != nil {
		_ = l.Unlock(ctx)
		return nil, err
	}
	return l, nil
}

// Locked reports whether this handle holds a lock.
func (r *Repository) Locked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.locks) > 0
}

// ErrLockLost: a held lock was removed by another process, or could not be
// refreshed for so long that others may take it for a dead one. A prune may
// then have deleted data the holder relies on, so it must not publish a
// snapshot.
var ErrLockLost = errors.New("the repository lock was lost")

// Lock is a held lock; Unlock releases it.
type Lock struct {
	r         *Repository
	info      LockInfo
	stop      chan struct{}
	done      sync.WaitGroup
	mu        sync.Mutex
	refreshed time.Time // last successful write
	// lost is set for good once a refresh came later than others may
	// wait before they call the lock stale: a prune may have deleted
	// what the holder relies on meanwhile, however fresh the lock is now.
	lost bool
}

// lockKind is what a lock excludes.
type lockKind int

const (
	sharedLock lockKind = iota
	exclusiveLock
	pruneLock
)

// excludes reports whether a lock of kind k cannot be taken beside l.
func (k lockKind) excludes(l LockInfo) bool {
	switch k {
	case exclusiveLock:
		return true
	case pruneLock:
		return l.Exclusive || l.Prune
	default:
		return l.Exclusive
	}
}

// stale reports whether a lock's holder is gone: not refreshed for
// LockStaleAfter, or on this host with a PID that no longer exists.
func (r *Repository) stale(l LockInfo) bool {
	return r.HolderGone(l, 0)
}

// HolderGone reports whether the holder of l is gone: its lock not
// refreshed for LockStaleAfter plus skew (a margin for clocks that
// differ between hosts), or held on this host by a PID that no longer
// exists.
func (r *Repository) HolderGone(l LockInfo, skew time.Duration) bool {
	if wallClock(r.opts.now()).Sub(wallClock(l.Time)) > LockStaleAfter+skew {
		return true
	}
	host, _ := os.Hostname()
	if l.Host == host && l.PID > 0 {
		err := syscall.Kill(l.PID, 0)
		return errors.Is(err, syscall.ESRCH)
	}
	return false
}

// Locks lists the locks in the repository.
func (r *Repository) Locks(ctx context.Context) ([]LockInfo, error) {
	var names []string
	err := r.target.List(ctx, KindLocks.Prefix(), func(fi targets.Info) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list locks: %w", err)
	}
	var out []LockInfo
	for _, name := range names {
		b, err := r.loadSealed(ctx, KindLocks, name, nil)
		if errors.Is(err, targets.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		var l LockInfo
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrDamaged, name, err)
		}
		l.Name = name
		out = append(out, l)
	}
	return out, nil
}

func (r *Repository) conflict(ctx context.Context, kind lockKind, own string) error {
	locks, err := r.Locks(ctx)
	if err != nil {
		return err
	}
	for _, l := range locks {
		if l.Name == own || r.stale(l) {
			continue
		}
		if kind.excludes(l) {
			return fmt.Errorf("%w: %s", ErrLocked, l)
		}
	}
	return nil
}

// Lock takes a shared or exclusive lock and keeps it fresh until Unlock.
func (r *Repository) Lock(ctx context.Context, exclusive bool) (*Lock, error) {
	if exclusive {
		return r.lock(ctx, exclusiveLock)
	}
	return r.lock(ctx, sharedLock)
}

// LockPrune takes a prune lock: no other prune and no exclusive lock may
// be held, shared locks may.
func (r *Repository) LockPrune(ctx context.Context) (*Lock, error) {
	return r.lock(ctx, pruneLock)
}

// OwnLocks lists the names of the locks this handle holds.
func (r *Repository) OwnLocks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, l := range r.locks {
		names = append(names, l.info.Name)
	}
	return names
}

func (r *Repository) lock(ctx context.Context, kind lockKind) (*Lock, error) {
	l, err := r.takeLock(ctx, kind)
	if err != nil {
		return nil, &LockError{err}
	}
	return l, nil
}

// LockError is a failure to take a lock: held by another process
// (ErrLocked), or not written (a read-only store). A command that can read
// without a lock can say so.
type LockError struct{ Err error }

func (e *LockError) Error() string { return e.Err.Error() }
func (e *LockError) Unwrap() error { return e.Err }

func (r *Repository) takeLock(ctx context.Context, kind lockKind) (*Lock, error) {
	if err := r.conflict(ctx, kind, ""); err != nil {
		return nil, err
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	info := LockInfo{Exclusive: kind == exclusiveLock, Prune: kind == pruneLock, Host: host, PID: os.Getpid(), Name: KindLocks.Prefix() + hex.EncodeToString(rnd[:])}
	if u, err := user.Current(); err == nil {
		info.Username = u.Username
	}
	l := &Lock{r: r, info: info, stop: make(chan struct{})}
	if err := l.write(ctx); err != nil {
		return nil, err
	}
	// Two processes may have passed the first check together; the second
	// check sees both locks, and a conflicting one backs off.
	if err := r.conflict(ctx, kind, info.Name); err != nil {
		_ = r.target.Delete(context.WithoutCancel(ctx), info.Name)
		return nil, err
	}
	l.done.Add(1)
	go l.refresh()
	r.mu.Lock()
	r.locks = append(r.locks, l)
	r.mu.Unlock()
	return l, nil
}

func (l *Lock) write(ctx context.Context) error {
	now := l.r.opts.now()
	info := l.info
	info.Time = now
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := l.r.target.Put(ctx, l.info.Name, l.r.key.Seal(nil, b, KindLocks.ad())); err != nil {
		return fmt.Errorf("write lock: %w", err)
	}
	l.mu.Lock()
	if !l.refreshed.IsZero() && wallClock(now).Sub(wallClock(l.refreshed)) > LockStaleAfter-LockRefresh {
		l.lost = true
	}
	l.refreshed = now
	l.mu.Unlock()
	return nil
}

// wallClock drops t's monotonic reading: lock ages are compared with
// times written by other hosts, and a suspended machine's monotonic clock
// stands still while theirs do not.
func wallClock(t time.Time) time.Time { return t.Round(0) }

// check fails with ErrLockLost if the lock file is gone or was last
// written so long ago that another process may call it stale.
func (l *Lock) check(ctx context.Context) error {
	l.mu.Lock()
	age, lost := wallClock(l.r.opts.now()).Sub(wallClock(l.refreshed)), l.lost
	l.mu.Unlock()
	if lost {
		return fmt.Errorf("%w: a refresh came too late (others may have taken it for a dead one)", ErrLockLost)
	}
	if age > LockStaleAfter-LockRefresh {
		return fmt.Errorf("%w: not refreshed for %s", ErrLockLost, age.Round(time.Second))
	}
	if _, err := l.r.target.Stat(ctx, l.info.Name); err != nil {
		if errors.Is(err, targets.ErrNotFound) {
			return fmt.Errorf("%w: %s was removed by another process", ErrLockLost, l.info.Name)
		}
		return fmt.Errorf("check lock: %w", err)
	}
	return nil
}

// CheckLocks verifies that every lock this handle holds is still in place
// and fresh (ErrLockLost otherwise). A run calls it before it publishes
// what relies on the lock: a snapshot, or a prune's deletions.
func (r *Repository) CheckLocks(ctx context.Context) error {
	r.mu.Lock()
	locks := slices.Clone(r.locks)
	r.mu.Unlock()
	for _, l := range locks {
		if err := l.check(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lock) refresh() {
	defer l.done.Done()
	t := time.NewTicker(LockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = l.write(ctx) // a missed refresh is retried; staleness takes six
			cancel()
		}
	}
}

// Unlock stops refreshing and removes the lock.
func (l *Lock) Unlock(ctx context.Context) error {
	close(l.stop)
	l.done.Wait()
	l.r.mu.Lock()
	l.r.locks = slices.DeleteFunc(l.r.locks, func(x *Lock) bool { return x == l })
	l.r.mu.Unlock()
	return l.r.target.Delete(context.WithoutCancel(ctx), l.info.Name)
}

// UnlockInto releases the lock and, when *err is nil, stores there the
// failure to remove it: a run that finished its work but left its lock says
// so (an exclusive lock left behind blocks every backup until it is stale).
func (l *Lock) UnlockInto(ctx context.Context, err *error) {
	if uerr := l.Unlock(ctx); uerr != nil && *err == nil {
		*err = fmt.Errorf("remove the lock (lifeboat unlock removes it once stale): %w", uerr)
	}
}

// RemoveStaleLocks deletes the locks whose holders are gone (all locks if
// all is set) and returns how many it removed. A live lock is never
// removed unless all is set.
func (r *Repository) RemoveStaleLocks(ctx context.Context, all bool) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range locks {
		if all || r.stale(l) {
			if err := r.target.Delete(ctx, l.Name); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// RemoveLocksOf deletes the locks held on host, for a caller that knows
// the processes there are gone (a sidecar container that was killed).
func (r *Repository) RemoveLocksOf(ctx context.Context, host string) (int, error) {
	locks, err := r.Locks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range locks {
		if l.Host == host {
			if err := r.target.Delete(ctx, l.Name); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
