package main

import (
	"context"

	"github.com/lifeboat-backup/lifeboat/volumes"
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
	a.out.stdout, a.out.quiet = a.stderr, true // stdout carries the stream
	vol, err := volumeInfoFlag(info)
	if err != nil {
		return err
	}
	pw, err := a.password("", false)
	if err != nil {
		return err
	}
	return volumes.Export(ctx, a.stdout, path, vol, hostOr(a.cfg.Host), pw)
}

func runImport(ctx context.Context, a *app, target, overwrite string) error {
	pw, err := a.password("", false)
	if err != nil {
		return err
	}
	// The stream follows the sidecar's input line on stdin.
	_, err = volumes.Import(ctx, a.input(), target, overwrite != "", pw)
	return err
}
