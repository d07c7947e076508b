package sidecar

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/mount"
)

// Direct copies a volume from one engine to another with no repository
// they share: a sidecar on the source backs the volume up into a private,
// temporary repository and streams it out; the CLI pipes the stream into a
// sidecar on the destination, which restores it into the volume dst (which
// must exist). password seals the temporary repository; info is recorded.
func Direct(ctx context.Context, src, dst *Engine, srcImage, dstImage string, v Volume, infoJSON string, dstVolume string, password []byte, overwrite bool) error {
	r, w := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		in, err := withInput(Input{Password: password}, nil)
		if err != nil {
			_ = w.CloseWithError(err)
			exported <- err
			return
		}
		code, err := src.Run(ctx, RunSpec{Image: srcImage, Network: "none", Stdin: in, Stdout: w, Stderr: &limitedWriter{n: 4096},
			Args:   []string{"sidecar-export", "--path", VolumePath(v.Name), "--volume-info", infoJSON, InputFlag},
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: v.Name, Target: VolumePath(v.Name), ReadOnly: true}}})
		if err == nil && code != 0 {
			err = fmt.Errorf("export on the source exited with code %d", code)
		}
		_ = w.CloseWithError(err)
		exported <- err
	}()
	args := []string{"sidecar-import", "--target", restoreMount, InputFlag}
	if overwrite { // the import makes the volume equal to the snapshot
		args = append(args, "--overwrite", "always")
	}
	stderr := &limitedWriter{n: 4096}
	stdin, err := withInput(Input{Password: password}, r) // the stream follows the input line
	if err != nil {
		return err
	}
	code, err := dst.Run(ctx, RunSpec{Image: dstImage, Network: "none", Stdin: stdin, Stderr: stderr, Args: args,
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: dstVolume, Target: restoreMount}}})
	_ = r.Close()
	xerr := <-exported
	if err == nil && code != 0 {
		err = fmt.Errorf("import on the destination exited with code %d: %s", code, lastLine(stderr.String()))
	}
	if err != nil {
		return err // the root cause: the source then fails on the closed pipe
	}
	return xerr
}

func lastLine(s string) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	return string(lines[len(lines)-1])
}
