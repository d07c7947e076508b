package main

import (
	"context"

	"github.com/lifeboat-backup/lifeboat/repository"
)

// workerHost is what the sidecar's side of lifeboat (sidecar/worker) uses
// of this process: the repository as every command opens it, the backup
// command's path backup, and the output.
type workerHost struct{ a *app }

func (h workerHost) OpenRepository(ctx context.Context) (*repository.Repository, func(), error) {
	return h.a.openRepository(ctx, sharedLock, true)
}

func (h workerHost) BackupPath(ctx context.Context, repo *repository.Repository, path, host string, tags []string, vol *repository.VolumeInfo) (*repository.Snapshot, error) {
	return backupPaths(ctx, h.a, repo, backupOptions{paths: []string{path}, tags: tags}, host, vol)
}

func (h workerHost) Emit(typ string, v any) { h.a.out.emit(typ, v) }

func (h workerHost) Divert() { h.a.out.stdout, h.a.out.quiet = h.a.stderr, true }
