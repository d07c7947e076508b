package volumes

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/lifeboat-backup/lifeboat/internal/wire"
)

// directStats counts the bytes a direct copy moved each way.
type directStats struct {
	sent     int64 // source to destination: entries and the blocks the destination lacked
	returned int64 // destination to source: the signatures of what it had
}

// copyDirect copies volume from src to the volume of the same name on dst
// (which exists) with no repository they share: a sidecar on each engine,
// their standard streams joined both ways through this process
// (Engine.SendVolume, Engine.ReceiveVolume). Neither side stores anything
// but the volumes.
//
// With a gate, both sidecars start at once and the receiver reads its
// volume, but the sender reads nothing before the gate yields: nil lets it
// go, an error ends the copy with that error.
func copyDirect(ctx context.Context, src, dst Sidecar, images [2]string, volume string, overwrite bool, gate <-chan error) (directStats, error) {
	toDst, fromSrc := io.Pipe()
	toSrc, fromDst := io.Pipe()
	var sent, returned atomic.Int64
	sendDone := make(chan error, 1)
	var in io.Reader = toSrc
	if gate != nil {
		in = io.MultiReader(&gated{gate: gate}, toSrc)
	}
	go func() {
		err := src.SendVolume(ctx, images[0], volume, gate != nil, in, counting{fromSrc, &sent})
		_ = fromSrc.CloseWithError(err)
		_ = toSrc.CloseWithError(err)
		sendDone <- err
	}()
	err := dst.ReceiveVolume(ctx, images[1], volume, overwrite, toDst, counting{fromDst, &returned})
	_ = fromDst.CloseWithError(err)
	_ = toDst.CloseWithError(err)
	serr := <-sendDone
	st := directStats{sent: sent.Load(), returned: returned.Load()}
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

// gated reads as the wire.Go frame once its gate yields nil, and fails
// with the error it yields otherwise.
type gated struct {
	gate <-chan error
	rest []byte
	err  error
	open bool
}

func (g *gated) Read(p []byte) (int, error) {
	if !g.open {
		g.open = true
		if g.err = <-g.gate; g.err == nil {
			g.rest = wire.GoFrame
		}
	}
	if g.err != nil {
		return 0, g.err
	}
	if len(g.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.rest)
	g.rest = g.rest[n:]
	return n, nil
}
