package volumes

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/local"
)

// The two halves of a copy without a shared repository (migrate --direct),
// each run by lifeboat inside a sidecar: Export backs a path up into a
// private repository, sealed with a password that exists only for the
// copy, and writes its objects to w as a tar stream; Import reads such a
// stream into a private repository of its own and restores its snapshot.

// maxStreamObject bounds one object of a stream (packs are at most 128 MiB).
const maxStreamObject = 256 << 20

// Export backs path up (recording info) into a fresh private repository in
// a temporary directory and streams every object of it to w.
func Export(ctx context.Context, w io.Writer, path string, info *repository.VolumeInfo, host string, password []byte) error {
	dir, err := os.MkdirTemp("", "lifeboat-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tg, err := local.New(dir)
	if err != nil {
		return err
	}
	repo, err := repository.Init(ctx, tg, password, repository.Options{})
	if err != nil {
		return err
	}
	defer repo.Close()
	lock, err := repo.LockAndLoad(ctx, false)
	if err != nil {
		return err
	}
	_, err = snapshot.New(repo, snapshot.Options{Host: host, Volume: info}).Run(ctx, []string{path})
	if uerr := lock.Unlock(ctx); err == nil {
		err = uerr // the lock file must not travel with the stream
	}
	if err != nil {
		return err
	}
	// Every object of the private repository, as its target lists it.
	tw := tar.NewWriter(w)
	err = tg.List(ctx, "", func(fi targets.Info) error {
		if err := tw.WriteHeader(&tar.Header{Name: fi.Name, Mode: 0o600, Size: fi.Size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		rc, err := tg.Get(ctx, fi.Name, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(tw, rc)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Import reads a stream that Export wrote into a private repository and
// restores its snapshot into target, verified. With overwrite, a target
// that is not empty is made equal to the snapshot; without, it is refused.
func Import(ctx context.Context, r io.Reader, target string, overwrite bool, password []byte) (*restore.Result, error) {
	dir, err := os.MkdirTemp("", "lifeboat-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	tg, err := local.New(dir)
	if err != nil {
		return nil, err
	}
	// Each entry is an object of the private repository, stored through the
	// target, which refuses names that are not plain object names.
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import stream: %w", err)
		}
		if h.Typeflag != tar.TypeReg || h.Size > maxStreamObject {
			return nil, fmt.Errorf("import stream: unexpected entry %q", h.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("import stream: %w", err)
		}
		if err := tg.Put(ctx, h.Name, data); err != nil {
			return nil, fmt.Errorf("import stream: %w", err)
		}
	}
	// Only this process uses the private repository: no lock.
	repo, err := repository.Open(ctx, tg, password, repository.Options{NoLock: true})
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	if err := repo.LoadIndex(ctx); err != nil {
		return nil, err
	}
	all, err := repo.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	sn, err := repository.FindSnapshot(all, "latest", repository.Filter{})
	if err != nil {
		return nil, err
	}
	opts := restore.Options{Verify: true}
	if overwrite { // equal to the snapshot: nothing stale survives
		opts.Overwrite, opts.Delete = restore.OverwriteAlways, true
	}
	return restore.Run(ctx, repo, sn, target, opts)
}
