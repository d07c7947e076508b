package messages

// Exit codes of lifeboat (Failure.ExitCode holds one; lifeboat --help
// lists them). The CLI acts on a sidecar's ExitOK, ExitIncomplete and
// ExitLocked.
const (
	ExitOK          = 0
	ExitError       = 1   // an error; the message says which
	ExitUsage       = 2   // wrong usage: unknown flag, missing argument, bad value
	ExitIncomplete  = 3   // saved, but some entries could not be read; or a restore left out damaged files
	ExitDamage      = 4   // check found damage; restore --verify found a difference
	ExitUnreadable  = 5   // check could not read some objects, and found no damage
	ExitNoRepo      = 10  // no repository at the given location
	ExitLocked      = 11  // the repository is locked by another process
	ExitWrongPass   = 12  // wrong password
	ExitInterrupted = 130 // interrupted (a signal); the repository stays valid
)
