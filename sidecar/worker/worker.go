// Package worker is the lifeboat that runs inside a sidecar: it reads what
// the CLI outside hands it before anything else (protocol.Input: the
// password, credential files, a batch's plan), runs the commands that only
// a sidecar runs (a batch backup, both halves of a direct copy), and reads
// the order of a restore sidecar that was started ahead of its snapshot.
//
// It parses the side of sidecar/protocol that protocol builds: the hidden
// commands and flags are registered here under protocol's names, so
// cmd/lifeboat only wires a Worker in and never sees a protocol type.
package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Host is what a Worker uses of the lifeboat process it runs in.
type Host interface {
	// OpenRepository opens the repository under a shared lock with its
	// index loaded; done releases it.
	OpenRepository(ctx context.Context) (repo *repository.Repository, done func(), err error)
	// BackupPath backs the directory path up into repo as one snapshot
	// that records host, tags and vol, printing its progress, warnings
	// and summary the way the backup command does.
	BackupPath(ctx context.Context, repo *repository.Repository, path, host string, tags []string, vol *repository.VolumeInfo) (*repository.Snapshot, error)
	// Emit prints one message line (a messages type).
	Emit(typ string, v any)
	// Divert sends everything the process prints from now on to its
	// standard error and keeps it quiet: its standard output carries a
	// stream.
	Divert()
}

// Worker is the sidecar side of the protocol in one lifeboat process.
type Worker struct {
	host   Host
	stdin  *bufio.Reader
	stdout io.Writer
	stderr io.Writer

	readInput    bool // --sidecar-input
	orderOnInput bool // restore --snapshot-on-input
	input        *protocol.Input
}

// New returns a Worker that reads stdin (the buffer the rest of the
// process reads too) and writes streams to stdout and its own lines to
// stderr.
func New(host Host, stdin *bufio.Reader, stdout, stderr io.Writer) *Worker {
	return &Worker{host: host, stdin: stdin, stdout: stdout, stderr: stderr}
}

// AddInputFlag registers, hidden, the flag with which the CLI starts every
// sidecar that opens the repository: read the Input line first.
func (w *Worker) AddInputFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&w.readInput, protocol.FlagInput, false, "read the password, settings files and plan from the first line of stdin (set by lifeboat for its sidecars)")
	_ = fs.MarkHidden(protocol.FlagInput)
}

// ReadInput reads the Input line if the process was started with the
// input flag, writes its files in place and returns its password; ok is
// false (and nothing is read) when it was not.
func (w *Worker) ReadInput() (password string, ok bool, err error) {
	if !w.readInput {
		return "", false, nil
	}
	in, err := protocol.ReadInput(w.stdin)
	if err != nil {
		return "", true, err
	}
	if err := in.WriteFiles(); err != nil {
		return "", true, err
	}
	w.input = in
	return string(in.Password), true, nil
}

// AddOrderFlag registers, hidden on the restore command, the flag of a
// restore sidecar started ahead of its snapshot (ReadOrder).
func (w *Worker) AddOrderFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&w.orderOnInput, protocol.FlagSnapshotOnInput, false, "read the snapshot and base from stdin once the repository is open (set by lifeboat for its sidecars)")
	_ = fs.MarkHidden(protocol.FlagSnapshotOnInput)
}

// OrderOnInput reports whether the restore is to read its snapshot from
// the input (ReadOrder) instead of its argument.
func (w *Worker) OrderOnInput() bool { return w.orderOnInput }

// ReadOrder waits for the restore order (protocol.RestoreOrder) of a
// restore sidecar started ahead of its snapshot, then loads the index
// files written since repo was opened, which hold the snapshot's data.
// An input that ends without an order restores nothing.
func (w *Worker) ReadOrder(ctx context.Context, repo *repository.Repository) (snapshot, base string, err error) {
	o, err := protocol.ReadOrder(w.stdin)
	if errors.Is(err, protocol.ErrNoOrder) {
		return "", "", errors.New("no snapshot was given: nothing restored")
	}
	if err != nil {
		return "", "", err
	}
	if err := repo.LoadIndex(ctx); err != nil {
		return "", "", err
	}
	return o.Snapshot, o.Base, nil
}

// Commands are the commands only a sidecar runs, hidden from help: a
// batch backup (Batch), and the sending and receiving halves of a direct
// copy (Send, Receive).
func (w *Worker) Commands() []*cobra.Command {
	batch := &cobra.Command{
		Use:    protocol.CmdBatch,
		Short:  "Back up the volumes of a plan (run by lifeboat inside its sidecar)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE:   func(cmd *cobra.Command, _ []string) error { return w.Batch(cmd.Context()) },
	}

	var path string
	var awaitGo bool
	send := &cobra.Command{Use: protocol.CmdSend, Short: "Send a volume to a direct copy's receiver (run by lifeboat inside its sidecar)",
		Hidden: true, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return w.Send(cmd.Context(), path, awaitGo) }}
	send.Flags().StringVar(&path, protocol.FlagPath, "", "what to send")
	send.Flags().BoolVar(&awaitGo, protocol.FlagAwaitGo, false, "read nothing before the go-ahead on stdin")

	var target string
	var overwrite bool
	receive := &cobra.Command{Use: protocol.CmdReceive, Short: "Receive a direct copy into a volume (run by lifeboat inside its sidecar)",
		Hidden: true, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return w.Receive(cmd.Context(), target, overwrite) }}
	receive.Flags().StringVar(&target, protocol.FlagTarget, "", "where to receive")
	receive.Flags().BoolVar(&overwrite, protocol.FlagOverwrite, false, "bring a target that is not empty up to date")

	return []*cobra.Command{batch, send, receive}
}

// usage is the error of a worker command started without what it needs.
func usage(format string, args ...any) error {
	return fmt.Errorf("sidecar: "+format, args...)
}
