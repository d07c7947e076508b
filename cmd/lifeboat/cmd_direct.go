package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
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
	tw := tar.NewWriter(stdout)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || strings.HasPrefix(fi.Name(), ".tmp-") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o600, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func runImport(ctx context.Context, a *app, target, overwrite string) error {
	dir, err := os.MkdirTemp("", "lifeboat-import-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tr := tar.NewReader(a.input()) // after the sidecar's input line
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("import stream: %w", err)
		}
		// Names are repository object names: plain relative paths only.
		if h.Typeflag != tar.TypeReg || strings.Contains(h.Name, "..") || filepath.IsAbs(h.Name) {
			return fmt.Errorf("import stream: unexpected entry %q", h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
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
