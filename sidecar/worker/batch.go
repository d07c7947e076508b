package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// Batch backs up the volumes of the Input's plan in one sidecar, one
// snapshot each. Before each volume it prints a volume_ready line and
// waits for the CLI's answer (protocol.ReadAnswer), so that the CLI
// outside can stop or pause the volume's users just for that volume's
// copy, or skip it. A volume that fails is reported (volume_error) and the
// batch goes on; a locked repository ends it (the CLI may wait and run it
// again).
func (w *Worker) Batch(ctx context.Context) error {
	if w.input == nil || w.input.Plan == nil {
		return usage("%s reads its plan from its input (--%s)", protocol.CmdBatch, protocol.FlagInput)
	}
	plan := w.input.Plan
	repo, done, err := w.host.OpenRepository(ctx)
	if err != nil {
		return err
	}
	defer done()
	answers := bufio.NewScanner(w.stdin)
	failed, incomplete := 0, 0
	for _, v := range plan.Volumes {
		w.host.Emit(messages.MsgVolumeReady, messages.VolumeReady{Volume: v.Info.Name})
		proceed, err := protocol.ReadAnswer(answers)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Info.Name, err)
		}
		if !proceed {
			continue // skipped by the CLI (a pre hook failed)
		}
		info := v.Info
		sn, err := w.host.BackupPath(ctx, repo, v.Path, plan.Host, plan.Tags, &info)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, repository.ErrLocked):
			return err // exit 11: the caller may wait and run again
		case err != nil:
			failed++
			w.host.Emit(messages.MsgVolumeError, messages.VolumeError{Volume: v.Info.Name, Message: err.Error()})
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
