package main

import (
	"context"
	"errors"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/volumes"
)

// Exit codes (messages.Exit*), listed in the root command's help.
const (
	exitOK          = messages.ExitOK
	exitError       = messages.ExitError
	exitUsage       = messages.ExitUsage
	exitIncomplete  = messages.ExitIncomplete
	exitDamage      = messages.ExitDamage
	exitUnreadable  = messages.ExitUnreadable
	exitNoRepo      = messages.ExitNoRepo
	exitLocked      = messages.ExitLocked
	exitWrongPass   = messages.ExitWrongPass
	exitInterrupted = messages.ExitInterrupted
)

const exitCodeHelp = `Exit codes:
  0    success
  1    error (the message says which)
  2    wrong usage (unknown flag, missing argument)
  3    backup saved, but some files could not be read (snapshot marked incomplete);
       restore wrote every intact file but left out those whose data is
       damaged in the repository (listed)
  4    check found damage in the repository
  5    check could not read some objects (the store failed after retries)
       and found no damage; run it again
  10   no repository at the given location
  11   the repository is locked by another process
  12   wrong password
  130  interrupted (Ctrl-C or SIGTERM); the repository stays valid`

// errDamage and errUnreadable carry a result that is not a plain failure
// (snapshot.ErrIncomplete is the third).
var (
	errDamage     = errors.New("repository is damaged")
	errUnreadable = errors.New("some objects could not be read")
)

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue), errors.Is(err, volumes.ErrSyntax):
		return exitUsage
	case errors.Is(err, snapshot.ErrIncomplete), errors.Is(err, restore.ErrIncomplete):
		return exitIncomplete
	case errors.Is(err, errDamage):
		return exitDamage
	case errors.Is(err, errUnreadable):
		return exitUnreadable
	case errors.Is(err, repository.ErrNotRepository):
		return exitNoRepo
	case errors.Is(err, repository.ErrLocked):
		return exitLocked
	case errors.Is(err, repository.ErrWrongPassword):
		return exitWrongPass
	}
	return exitError
}
