package configs

// Names of lifeboat's commands and flags that a program writes as well as
// a person: lifeboat writes them into the command lines of its sidecars
// (sidecar/protocol builds those lines), and cmd/lifeboat registers its
// commands and flags under them. The flags only a sidecar is given are
// sidecar/protocol's own.
const (
	FlagRepo    = "repo"
	FlagJSON    = "json"
	FlagNoCache = "no-cache"

	CmdRestore      = "restore"
	FlagTarget      = "target"
	FlagOverwrite   = "overwrite"
	FlagDelete      = "delete"
	FlagBase        = "base"
	FlagVerify      = "verify"
	FlagKeepDamaged = "keep-damaged"
)
