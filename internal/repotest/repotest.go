// Package repotest makes repositories for tests: one password, a key
// derivation cheap enough to run thousands of times, and everything
// closed and unlocked when the test ends.
package repotest

import (
	"context"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

// Password is the password of every repository repotest makes.
const Password = "pw"

// FastKDF derives keys cheaply; for tests only.
func FastKDF() (crypto.KDFParams, error) { return crypto.NewKDF(1, 64, 1) }

// Init creates a repository on store and closes it, for a test that then
// opens it as its processes would. opts.KDF defaults to FastKDF.
func Init[T targets.Target](t testing.TB, store T, opts repository.Options) T {
	t.Helper()
	if opts.KDF == nil {
		opts.KDF = FastKDF
	}
	r, err := repository.Init(context.Background(), store, []byte(Password), opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	return store
}

// Locked opens store (made by Init) with a shared lock and its index
// loaded, in that order; the lock is released and the repository closed
// when the test ends.
func Locked(t testing.TB, store targets.Target, opts repository.Options) *repository.Repository {
	t.Helper()
	ctx := context.Background()
	r, err := repository.Open(ctx, store, []byte(Password), opts)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := r.LockAndLoad(ctx, false)
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Unlock(ctx); r.Close() })
	return r
}

// New makes a repository on a new in-memory store, ready for a backup
// (Locked).
func New(t testing.TB, opts repository.Options) (*repository.Repository, *mem.Target) {
	t.Helper()
	store := Init(t, mem.New(), opts)
	return Locked(t, store, opts), store
}
