package sidecar

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/moby/moby/api/types/mount"
)

// The two halves of a direct copy (migrate --direct), each a sidecar on
// its own engine with no network and no repository: the sender reads a
// volume and writes its stream to out, reading the receiver's signatures
// of what it already holds from in; the receiver makes a volume equal to
// the stream it reads from in, writing those signatures to out, so that
// only the blocks that differ travel (package wire). The caller joins
// them (volumes.Migrate).

// SendVolume runs the sending sidecar on volume, mounted read-only. With
// awaitGo it reads nothing of the volume before in gives it a wire.Go frame
// (ahead of the receiver's signatures).
func (e *Engine) SendVolume(ctx context.Context, image, volume string, awaitGo bool, in io.Reader, out io.Writer) error {
	stderr := &limitedWriter{n: 4096}
	code, err := e.Run(ctx, RunSpec{Image: image, Network: "none", Stdin: in, Stdout: out, Stderr: stderr,
		Args:   protocol.Send(VolumePath(volume), awaitGo),
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: VolumePath(volume), ReadOnly: true}}})
	if err == nil && code != 0 {
		err = fmt.Errorf("the source's sidecar exited with code %d: %s", code, lastLine(stderr.String()))
	}
	return err
}

// ReceiveVolume runs the receiving sidecar on volume, which must exist.
// With overwrite a volume that is not empty is brought up to date;
// without, it is refused.
func (e *Engine) ReceiveVolume(ctx context.Context, image, volume string, overwrite bool, in io.Reader, out io.Writer) error {
	stderr := &limitedWriter{n: 4096}
	code, err := e.Run(ctx, RunSpec{Image: image, Network: "none", Stdin: in, Stdout: out, Stderr: stderr,
		Args:   protocol.Receive(restoreMount, overwrite),
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: volume, Target: restoreMount}}})
	if err == nil && code != 0 {
		err = fmt.Errorf("the destination's sidecar exited with code %d: %s", code, lastLine(stderr.String()))
	}
	return err
}

func lastLine(s string) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	return string(lines[len(lines)-1])
}
