package main

import (
	"context"
	"fmt"
	"io"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/results"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/spf13/cobra"
)

func newInitCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new repository",
		Long: `Create a new, empty repository at --repo: a local directory (created if
missing), an S3 bucket (s3://BUCKET/PREFIX; AWS credentials from the usual
chain, --s3-endpoint and --s3-path-style for S3-compatible stores) or a Google
Cloud Storage bucket (gs://BUCKET/PREFIX; Application Default Credentials or
--gcs-credentials-file). The bucket must exist.

A random master key encrypts everything; it is stored wrapped by a key derived
from the password (argon2id). On a terminal the password is asked twice.
Forgetting the password means losing the data: add a second key with
"lifeboat key add" and keep it somewhere safe.`,
		Example: `  lifeboat init --repo /srv/backups
  lifeboat init --repo s3://my-bucket/lifeboat
  lifeboat init --repo s3://backups/host1 --s3-endpoint https://minio.lan:9000 --s3-path-style
  lifeboat init --repo gs://my-bucket/lifeboat
  LIFEBOAT_PASSWORD_FILE=/etc/lifeboat/password lifeboat init --repo /mnt/usb/lifeboat`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd.Context(), a)
		},
	}
	cmd.Flags().Int("pack-size", repository.DefaultPackSize>>20, "target pack file size in MiB, 1 to 128")
	return cmd
}

func runInit(ctx context.Context, a *app) error {
	loc, err := a.cfg.RequireRepository()
	if err != nil {
		return usageError{err}
	}
	if n := a.cfg.PackSizeMiB; n < 1 || n > 128 {
		return usageError{fmt.Errorf("--pack-size must be between 1 and 128 MiB, not %d", n)}
	}
	t, err := a.openTarget(ctx, loc)
	if err != nil {
		return err
	}
	pw, err := a.password("enter a password for the new repository: ", true)
	if err != nil {
		return err
	}
	repo, err := repository.Init(ctx, t, pw, repository.Options{PackSize: a.cfg.PackSizeMiB << 20})
	if err != nil {
		return err
	}
	defer repo.Close()
	cfg := repo.Config()
	a.out.report("init", results.Init{ID: cfg.ID, Location: t.Location(), Version: cfg.Version},
		func(w io.Writer) {
			fmt.Fprintf(w, "created lifeboat repository %s at %s\n", cfg.ID[:10], t.Location())
			fmt.Fprintln(w, "Keep the password safe: without it the data cannot be read.")
		})
	return nil
}
