package sidecar

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/moby/moby/api/types/mount"
)

// DirectStats counts the bytes a direct copy moved each way.
type DirectStats struct {
	Sent     int64 // source to destination: entries and the blocks the destination lacked
	Returned int64 // destination to source: the signatures of what it had
}

// Direct copies a volume from one engine to another with no repository
// they share: a sidecar on the source reads the volume (read-only) and
// sends it, a sidecar on the destination makes the volume dst (which must
// exist) equal to it, and lifeboat joins their standard streams both ways:
// the destination's signatures of what it already holds go back to the
// source, which then sends only the blocks that differ (package wire).
// Neither side stores anything but the volumes. With overwrite, a
// destination that is not empty is brought up to date; without, it is
// refused.
func Direct(ctx context.Context, src, dst *Engine, srcImage, dstImage string, v Volume, dstVolume string, overwrite bool) (DirectStats, error) {
	toDst, fromSrc := io.Pipe()
	toSrc, fromDst := io.Pipe()
	var sent, returned atomic.Int64
	srcErr := &limitedWriter{n: 4096}
	sendDone := make(chan error, 1)
	go func() {
		code, err := src.Run(ctx, RunSpec{Image: srcImage, Network: "none", Stdin: toSrc, Stdout: counting{fromSrc, &sent}, Stderr: srcErr,
			Args:   protocol.Send(VolumePath(v.Name)),
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: v.Name, Target: VolumePath(v.Name), ReadOnly: true}}})
		if err == nil && code != 0 {
			err = fmt.Errorf("the source's sidecar exited with code %d: %s", code, lastLine(srcErr.String()))
		}
		_ = fromSrc.CloseWithError(err)
		_ = toSrc.CloseWithError(err)
		sendDone <- err
	}()
	dstErr := &limitedWriter{n: 4096}
	code, err := dst.Run(ctx, RunSpec{Image: dstImage, Network: "none", Stdin: toDst, Stdout: counting{fromDst, &returned}, Stderr: dstErr, Args: protocol.Receive(restoreMount, overwrite),
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: dstVolume, Target: restoreMount}}})
	if err == nil && code != 0 {
		err = fmt.Errorf("the destination's sidecar exited with code %d: %s", code, lastLine(dstErr.String()))
	}
	_ = fromDst.CloseWithError(err)
	_ = toDst.CloseWithError(err)
	serr := <-sendDone
	st := DirectStats{Sent: sent.Load(), Returned: returned.Load()}
	if err != nil {
		return st, err // the root cause: the source then fails on the closed pipe
	}
	return st, serr
}

// counting counts what passes through to w.
type counting struct {
	w io.Writer
	n *atomic.Int64
}

func (c counting) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func lastLine(s string) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	return string(lines[len(lines)-1])
}
