package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// The two halves of `migrate --direct`, each in a sidecar on its own
// engine, joined by the CLI: Send reads a volume and writes the stream to
// standard output while it reads the destination's signatures from
// standard input; Receive makes a volume equal to the stream it reads,
// writing its signatures to standard output.

// Send streams the directory path (snapshot.Send); with awaitGo it reads
// nothing of it before the go-ahead frame.
func (w *Worker) Send(ctx context.Context, path string, awaitGo bool) error {
	if path == "" {
		return usage("nothing to send")
	}
	w.host.Divert()
	_, err := snapshot.Send(ctx, path, w.stdout, w.stdin, awaitGo)
	return err
}

// Receive makes target equal to the stream (restore.Receive). Without
// overwrite a target that holds anything is refused before anything is
// read.
func (w *Worker) Receive(ctx context.Context, target string, overwrite bool) error {
	if target == "" {
		return usage("nowhere to receive")
	}
	w.host.Divert()
	if !overwrite {
		d, err := os.Open(target)
		if err != nil {
			return err
		}
		names, err := d.Readdirnames(1)
		d.Close()
		if len(names) > 0 {
			return errors.New("the destination volume is not empty")
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	res, err := restore.Receive(ctx, target, w.stdin, w.stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(w.stderr, "received %d files, %d patched, %d bytes written, %d entries removed\n", res.Files, res.Patched, res.Written, res.Deleted)
	return nil
}
