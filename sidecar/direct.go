package sidecar

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/moby/api/types/mount"
)

// Direct copies a volume from one engine to another with no repository
// they share: a sidecar on the source backs the volume up into a private,
// temporary repository and streams it out; the CLI pipes the stream into a
// sidecar on the destination, which restores it into the volume dst (which
// must exist). password seals the temporary repository; info is recorded.
func Direct(ctx context.Context, src, dst *Engine, srcImage, dstImage string, v Volume, infoJSON string, dstVolume string, password []byte, overwrite bool) error {
	dir, err := os.MkdirTemp(shmDir(), "lifeboat-direct-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, append(append([]byte{}, password...), '\n'), 0o600); err != nil {
		return err
	}
	pwMount := mount.Mount{Type: mount.TypeBind, Source: pw, Target: passwordMount, ReadOnly: true}
	r, w := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		code, err := src.Run(ctx, RunSpec{Image: srcImage, Network: "none", Stdout: w, Stderr: &limitedWriter{n: 4096},
			Args:   []string{"sidecar-export", "--path", VolumePath(v.Name), "--volume-info", infoJSON, "--password-file", passwordMount},
			Mounts: []mount.Mount{pwMount, {Type: mount.TypeVolume, Source: v.Name, Target: VolumePath(v.Name), ReadOnly: true}}})
		if err == nil && code != 0 {
			err = fmt.Errorf("export on the source exited with code %d", code)
		}
		_ = w.CloseWithError(err)
		exported <- err
	}()
	args := []string{"sidecar-import", "--target", restoreMount, "--password-file", passwordMount}
	if overwrite { // equal to the snapshot: nothing stale survives
		args = append(args, "--overwrite", "always")
	}
	stderr := &limitedWriter{n: 4096}
	code, err := dst.Run(ctx, RunSpec{Image: dstImage, Network: "none", Stdin: r, Stderr: stderr, Args: args,
		Mounts: []mount.Mount{pwMount, {Type: mount.TypeVolume, Source: dstVolume, Target: restoreMount}}})
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
