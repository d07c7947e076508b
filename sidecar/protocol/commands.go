package protocol

import "github.com/lifeboat-backup/lifeboat/configs"

// The commands and flags only a sidecar's lifeboat is given; the CLI
// builds every sidecar command line with the functions below, from these
// names and from the names of lifeboat's public commands and flags
// (configs/names.go). sidecar/worker registers these, cmd/lifeboat the
// public ones, and a test there parses each line built here with
// lifeboat's own commands.
const (
	CmdBatch   = "sidecar-batch"   // back up the volumes of the Input's Plan
	CmdSend    = "sidecar-send"    // send a directory to a CmdReceive
	CmdReceive = "sidecar-receive" // make a directory equal to what a CmdSend sends

	FlagInput           = "sidecar-input"     // every command: read the Input line first
	FlagSnapshotOnInput = "snapshot-on-input" // restore: read a RestoreOrder after the Input
	FlagPath            = "path"              // send: what to send
	FlagAwaitGo         = "await-go"          // send: read nothing before a wire.Go frame on stdin
	FlagTarget          = "target"            // receive: where to receive
	FlagOverwrite       = "overwrite"         // receive: bring a target that is not empty up to date
)

// Values of restore's --overwrite that a sidecar is given.
const (
	OverwriteAlways    = "always"
	OverwriteIfChanged = "if-changed"
)

func flag(name string) string { return "--" + name }

// RepositoryFlags follow the command of every sidecar that opens the
// repository: where it is as the sidecar sees it, its Input on standard
// input, messages out, and no cache (the container's file system goes with
// it).
func RepositoryFlags(repo string) []string {
	return []string{flag(configs.FlagRepo), repo, flag(FlagInput), flag(configs.FlagJSON), flag(configs.FlagNoCache)}
}

// Batch is a batch backup sidecar's command (its Plan comes in its Input).
func Batch() []string { return []string{CmdBatch} }

// RestoreLine is a restore sidecar's command.
type RestoreLine struct {
	// Snapshot is the id to restore; OnInput leaves it to a RestoreOrder
	// on the standard input.
	Snapshot string
	OnInput  bool
	Target   string // the directory in the sidecar
	// Overwrite is "" (refuse a target that is not empty),
	// OverwriteAlways or OverwriteIfChanged; Delete removes what the
	// snapshot lacks; Base is a snapshot the target holds (a delta).
	Overwrite   string
	Delete      bool
	Base        string
	Verify      bool
	KeepDamaged bool
}

// Args is the command line.
func (r RestoreLine) Args() []string {
	snap := r.Snapshot
	if r.OnInput {
		snap = "-"
	}
	args := []string{configs.CmdRestore, snap, flag(configs.FlagTarget), r.Target}
	if r.Overwrite != "" {
		args = append(args, flag(configs.FlagOverwrite), r.Overwrite)
	}
	if r.Delete {
		args = append(args, flag(configs.FlagDelete))
	}
	if r.Base != "" {
		args = append(args, flag(configs.FlagBase), r.Base)
	}
	if r.OnInput {
		args = append(args, flag(FlagSnapshotOnInput))
	}
	if r.Verify {
		args = append(args, flag(configs.FlagVerify))
	}
	if r.KeepDamaged {
		args = append(args, flag(configs.FlagKeepDamaged))
	}
	return args
}

// Send is the command of a direct copy's source sidecar, which reads path.
func Send(path string, awaitGo bool) []string {
	if awaitGo {
		return []string{CmdSend, flag(FlagPath), path, flag(FlagAwaitGo)}
	}
	return []string{CmdSend, flag(FlagPath), path}
}

// Receive is the command of a direct copy's destination sidecar, which
// makes target equal to what it receives; without overwrite a target
// that is not empty is refused.
func Receive(target string, overwrite bool) []string {
	args := []string{CmdReceive, flag(FlagTarget), target}
	if overwrite {
		args = append(args, flag(FlagOverwrite))
	}
	return args
}
