package volumes

import (
	"context"
	"io"
	"sync/atomic"
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
func copyDirect(ctx context.Context, src, dst Sidecar, images [2]string, volume string, overwrite bool) (directStats, error) {
	toDst, fromSrc := io.Pipe()
	toSrc, fromDst := io.Pipe()
	var sent, returned atomic.Int64
	sendDone := make(chan error, 1)
	go func() {
		err := src.SendVolume(ctx, images[0], volume, toSrc, counting{fromSrc, &sent})
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
