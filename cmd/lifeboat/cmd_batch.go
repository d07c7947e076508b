package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/spf13/cobra"
)

// newSidecarBatchCmd is the command a sidecar runs to back up several
// volumes in one container, one snapshot each. Before each volume it
// prints a "volume_ready" line and waits for "go" or "skip" on stdin, so
// that the CLI outside can stop or pause the volume's users just for that
// volume's copy. It is not meant to be run by hand.
func newSidecarBatchCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:    protocol.CmdBatch,
		Short:  "Back up the volumes of a plan (run by lifeboat inside its sidecar)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.sidecarIn == nil || a.sidecarIn.Plan == nil {
				return usageError{errors.New(protocol.CmdBatch + " reads its plan from its input (--" + protocol.FlagInput + ")")}
			}
			return runSidecarBatch(cmd.Context(), a, a.sidecarIn.Plan)
		},
	}
}

func runSidecarBatch(ctx context.Context, a *app, plan *protocol.Plan) error {
	repo, done, err := a.openRepository(ctx, sharedLock, true)
	if err != nil {
		return err
	}
	defer done()
	in := bufio.NewScanner(a.input())
	failed, incomplete := 0, 0
	for _, v := range plan.Volumes {
		a.out.emit(protocol.MsgVolumeReady, protocol.VolumeReady{Volume: v.Info.Name})
		proceed, err := protocol.ReadAnswer(in)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Info.Name, err)
		}
		if !proceed {
			continue // skipped by the CLI (a pre hook failed)
		}
		info := v.Info
		sn, err := backupPaths(ctx, a, repo, backupOptions{paths: []string{v.Path}, tags: plan.Tags}, plan.Host, &info)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, repository.ErrLocked):
			return err // exit 11: the caller may wait and run again
		case err != nil:
			failed++
			a.out.emit(protocol.MsgVolumeError, protocol.VolumeError{Volume: v.Info.Name, Message: err.Error()})
		case sn.Incomplete:
			incomplete++
		}
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d volumes failed", failed)
	case incomplete > 0:
		return fmt.Errorf("%d volumes incomplete: %w", incomplete, snapshot.ErrIncomplete)
	}
	return nil
}
