package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/all"
	"github.com/lifeboat-backup/lifeboat/targets/gcs"
	"github.com/lifeboat-backup/lifeboat/targets/s3"
	"golang.org/x/term"
)

// password returns the repository password from LIFEBOAT_PASSWORD, the
// password file, or a prompt on the terminal (asked twice when confirm).
// It is asked once per command run: a migrate or an upgrade that hands it
// to several sidecars and opens the repository asks only once.
func (a *app) password(prompt string, confirm bool) ([]byte, error) {
	if a.repoPassword != nil {
		return a.repoPassword, nil
	}
	var pw []byte
	var err error
	switch {
	case a.cfg.Password != "":
		pw = []byte(a.cfg.Password)
	case a.cfg.PasswordFile != "":
		pw, err = readPasswordFile(a.cfg.PasswordFile)
	default:
		pw, err = a.prompt(prompt, confirm, "no password: set LIFEBOAT_PASSWORD or LIFEBOAT_PASSWORD_FILE, or use --password-file")
	}
	if err != nil {
		return nil, err
	}
	a.repoPassword = pw
	return pw, nil
}

func readPasswordFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return nil, fmt.Errorf("password file %s: first line is empty", path)
	}
	return []byte(line), nil
}

// prompt asks for a password on the terminal; without one it fails with
// noTerminal, which says how to give that password instead.
func (a *app) prompt(prompt string, confirm bool, noTerminal string) ([]byte, error) {
	if a.stdin == nil || !term.IsTerminal(int(a.stdin.Fd())) {
		return nil, errors.New(noTerminal)
	}
	read := func(p string) ([]byte, error) {
		fmt.Fprint(a.stderr, p)
		b, err := term.ReadPassword(int(a.stdin.Fd()))
		fmt.Fprintln(a.stderr)
		return b, err
	}
	pw, err := read(prompt)
	if err != nil {
		return nil, fmt.Errorf("read password: %w", err)
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	if confirm {
		again, err := read("enter the password again: ")
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the passwords do not match")
		}
	}
	return pw, nil
}

// openTarget opens the store at loc with the configured cloud options.
func (a *app) openTarget(ctx context.Context, loc string) (targets.Target, error) {
	c := a.cfg
	return all.Open(ctx, loc, all.Options{
		S3: s3.Config{Endpoint: c.S3Endpoint, PathStyle: c.S3PathStyle, Region: c.S3Region, Profile: c.S3Profile,
			StorageClass: c.S3StorageClass, SSE: c.S3SSE, SSEKMSKeyID: c.S3SSEKMSKeyID},
		GCS:         gcs.Config{CredentialsFile: c.GCSCredentials, StorageClass: c.GCSStorageClass},
		Connections: c.Connections,
	})
}

// uploads is how many packs to write at once: a local disk is busy with
// two, a remote store needs more requests in flight to fill the link.
func (a *app) uploads(loc string) int {
	if !strings.Contains(loc, "://") {
		return 2
	}
	if a.cfg.Connections > 0 {
		return min(a.cfg.Connections, 8)
	}
	return 4
}

// lockMode is what a command holds on the repository while it runs.
type lockMode int

const (
	// withoutLock: the command only reads (or works on keys and locks,
	// which no prune touches). A prune beside it can make a read fail; it
	// cannot make the command report anything false.
	withoutLock lockMode = iota
	// sharedLock: the command adds data, or reads data that must stay while
	// it runs; no prune deletes anything under it.
	sharedLock
)

// openRepository opens the configured repository. With sharedLock the lock
// is taken before anything else is read; then, with loadIndex, the index is
// loaded (repository.LockAndLoad: the order of design.md's "Locks", which
// LoadIndex enforces). done releases the lock and the repository.
func (a *app) openRepository(ctx context.Context, mode lockMode, loadIndex bool) (*repository.Repository, func(), error) {
	loc, err := a.cfg.RequireRepository()
	if err != nil {
		return nil, nil, usageError{err}
	}
	t, err := a.openTarget(ctx, loc)
	if err != nil {
		return nil, nil, err
	}
	pw, err := a.password("enter the password for repository "+loc+": ", false)
	if err != nil {
		return nil, nil, err
	}
	repo, err := repository.Open(ctx, t, pw, repository.Options{Uploads: a.uploads(loc), NoLock: mode == withoutLock,
		Compression: compression(a.cfg), OnDamaged: a.reportDamaged, CacheDir: a.cacheDir(loc)})
	if err != nil {
		return nil, nil, err
	}
	// Deriving the password key (argon2id, 32 MiB) is the largest single
	// allocation of most runs; handing it back to the OS at once keeps it
	// from adding to the peak memory of what follows.
	debug.FreeOSMemory()
	var lock *repository.Lock
	switch {
	case mode == sharedLock && loadIndex:
		lock, err = repo.LockAndLoad(ctx, false)
	case mode == sharedLock:
		lock, err = repo.Lock(ctx, false)
	case loadIndex:
		err = repo.LoadIndex(ctx)
	}
	if err != nil {
		repo.Close()
		return nil, nil, err
	}
	done := func() { repo.Close() }
	if lock != nil {
		done = func() { _ = lock.Unlock(ctx); repo.Close() }
	}
	return repo, done, nil
}

// openStore opens the repository as openRepository does, for a command
// that judges or mends what is stored (check, repair): it reads every
// object from the store, never a local copy, which could hide damage there.
func (a *app) openStore(ctx context.Context, mode lockMode, loadIndex bool) (*repository.Repository, func(), error) {
	a.cfg.NoCache = true
	return a.openRepository(ctx, mode, loadIndex)
}

// reportDamaged warns about a damaged object that a command left out, and
// says how to deal with it.
func (a *app) reportDamaged(name string, err error) {
	hint := "left out; lifeboat repair index rebuilds the index from the packs"
	if kind, id, _ := strings.Cut(name, "/"); kind == "snapshots" {
		hint = "left out; lifeboat forget " + id[:min(8, len(id))] + " removes it"
	}
	a.out.warn("", fmt.Errorf("%w (%s)", err, hint))
}

// noLockHint tells a user of a command that can read without a lock how,
// when taking the lock is what failed (a read-only copy, a running prune).
func noLockHint(err error) error {
	var le *repository.LockError
	if errors.As(err, &le) {
		return fmt.Errorf("%w (to read without a lock, for example from a read-only copy, use --no-lock)", err)
	}
	return err
}

// confirm asks a yes/no question on the terminal; yes answers it in
// advance. Without a terminal and without yes it is a usage error that
// says what needs confirming.
func (a *app) confirm(question string, yes bool, what string) (bool, error) {
	if yes {
		return true, nil
	}
	if a.stdin == nil || !term.IsTerminal(int(a.stdin.Fd())) {
		return false, usageError{fmt.Errorf("%s: confirm with --yes", what)}
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	var answer string
	_, _ = fmt.Fscanln(a.stdin, &answer)
	answer = strings.TrimSpace(answer)
	return strings.EqualFold(answer, "y") || strings.EqualFold(answer, "yes"), nil
}

// cacheDir is the root of the local cache for the repository at loc: none
// for a local directory (its files are local already) or with --no-cache.
func (a *app) cacheDir(loc string) string {
	if a.cfg.NoCache || !strings.Contains(loc, "://") {
		return ""
	}
	if a.cfg.CacheDir != "" {
		return a.cfg.CacheDir
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "" // no home: no cache
	}
	return filepath.Join(dir, "lifeboat")
}
