package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/spf13/cobra"
)

// The two halves of `migrate --direct`, run inside sidecars: send reads a
// volume and writes it to stdout, reading the destination's signatures on
// stdin; receive makes a volume equal to what it reads on stdin, writing
// its signatures to stdout. Not meant for hands.

func newSidecarSendCmd(a *app) *cobra.Command {
	var path string
	var awaitGo bool
	cmd := &cobra.Command{Use: protocol.CmdSend, Hidden: true, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.out.stdout, a.out.quiet = a.stderr, true // stdout carries the stream
			_, err := snapshot.Send(cmd.Context(), path, a.stdout, a.stdin, awaitGo)
			return err
		}}
	cmd.Flags().StringVar(&path, protocol.FlagPath, "", "what to send")
	cmd.Flags().BoolVar(&awaitGo, protocol.FlagAwaitGo, false, "read nothing before the go-ahead on stdin")
	return cmd
}

func newSidecarReceiveCmd(a *app) *cobra.Command {
	var target string
	var overwrite bool
	cmd := &cobra.Command{Use: protocol.CmdReceive, Hidden: true, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReceive(cmd.Context(), a, target, overwrite) }}
	cmd.Flags().StringVar(&target, protocol.FlagTarget, "", "where to receive")
	cmd.Flags().BoolVar(&overwrite, protocol.FlagOverwrite, false, "bring a target that is not empty up to date")
	return cmd
}

func runReceive(ctx context.Context, a *app, target string, overwrite bool) error {
	a.out.stdout, a.out.quiet = a.stderr, true // stdout carries the signatures
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
	res, err := restore.Receive(ctx, target, a.stdin, a.stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "received %d files, %d patched, %d bytes written, %d entries removed\n", res.Files, res.Patched, res.Written, res.Deleted)
	return nil
}
