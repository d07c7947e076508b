package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/local"
	"github.com/spf13/cobra"
)

// The two halves of `migrate --direct`, run inside sidecars: export backs a
// volume up into a private repository and writes it to stdout as a tar
// stream; import reads that stream and restores it. Not meant for hands.

func newSidecarExportCmd(a *app) *cobra.Command {
	var path, info string
	cmd := &cobra.Command{Use: "sidecar-export", Hidden: true, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExport(cmd.Context(), a, path, info) }}
	cmd.Flags().StringVar(&path, "path", "", "what to export")
	cmd.Flags().StringVar(&info, "volume-info", "", "the volume's metadata")
	return cmd
}

func newSidecarImportCmd(a *app) *cobra.Command {
	var target, overwrite string
	cmd := &cobra.Command{Use: "sidecar-import", Hidden: true, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runImport(cmd.Context(), a, target, overwrite) }}
	cmd.Flags().StringVar(&target, "target", "", "where to restore")
	cmd.Flags().StringVar(&overwrite, "overwrite", "", "overwrite mode")
	return cmd
}

func runExport(ctx context.Context, a *app, path, info string) error {
	stdout := a.stdout
	a.out.stdout, a.out.quiet = a.stderr, true // stdout carries the stream
	dir, err := os.MkdirTemp("", "lifeboat-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	repo, err := privateRepo(ctx, a, dir, true)
	if err != nil {
		return err
	}
	defer repo.Close()
	vol, err := volumeInfoFlag(info)
	if err != nil {
		return err
	}
	lock, err := repo.Lock(ctx, false)
	if err != nil {
		return err
	}
	_, err = backupPaths(ctx, a, repo, backupOptions{paths: []string{path}}, hostOr(a.cfg.Host), vol)
	if uerr := lock.Unlock(ctx); err == nil {
		err = uerr // the lock file must not travel with the stream
	}
	if err != nil {
		return err
	}
	// Every object of the private repository, as its target lists it.
	tg := repo.Target()
	tw := tar.NewWriter(stdout)
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

// maxImportObject bounds one object of an import stream (packs are at
// most 128 MiB).
const maxImportObject = 256 << 20

func runImport(ctx context.Context, a *app, target, overwrite string) error {
	dir, err := os.MkdirTemp("", "lifeboat-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tg, err := local.New(dir)
	if err != nil {
		return err
	}
	// Each entry is an object of the private repository, stored through the
	// target, which refuses names that are not plain object names.
	tr := tar.NewReader(a.input()) // after the sidecar's input line
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("import stream: %w", err)
		}
		if h.Typeflag != tar.TypeReg || h.Size > maxImportObject {
			return fmt.Errorf("import stream: unexpected entry %q", h.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("import stream: %w", err)
		}
		if err := tg.Put(ctx, h.Name, data); err != nil {
			return fmt.Errorf("import stream: %w", err)
		}
	}
	repo, err := privateRepo(ctx, a, dir, false)
	if err != nil {
		return err
	}
	defer repo.Close()
	if err := repo.LoadIndex(ctx); err != nil {
		return err
	}
	sn, err := findSnapshot(ctx, repo, "latest", repository.Filter{})
	if err != nil {
		return err
	}
	ow, err := restore.ParseOverwrite(overwrite)
	if err != nil {
		return err
	}
	// An overwrite makes the volume equal to the snapshot: nothing stale survives.
	_, err = restore.Run(ctx, repo, sn, target, restore.Options{Overwrite: ow, Delete: ow != restore.OverwriteRefuse, Verify: true})
	return err
}

// privateRepo creates (or opens) the transfer repository in dir with the
// password the CLI handed to both sidecars. Only this process uses it: the
// exporting side locks it to write (as the archiver requires), the
// importing side reads it without a lock.
func privateRepo(ctx context.Context, a *app, dir string, create bool) (*repository.Repository, error) {
	pw, err := a.password("", false)
	if err != nil {
		return nil, err
	}
	tg, err := local.New(dir)
	if err != nil {
		return nil, err
	}
	if create {
		return repository.Init(ctx, tg, pw, repository.Options{})
	}
	return repository.Open(ctx, tg, pw, repository.Options{NoLock: true})
}
