package snapshot

import (
	"context"
	"fmt"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// parentDir is a directory's counterpart in the parent snapshot.
type parentDir struct {
	id   pack.ID
	tree *repository.Tree
}

func (p *parentDir) find(name string) *repository.Node {
	if p == nil {
		return nil
	}
	return p.tree.Find(name)
}

// loadParent loads a parent tree; a parent that cannot be read only costs
// speed, so it is reported as a warning and ignored.
func (r *run) loadParent(ctx context.Context, path string, id pack.ID) *parentDir {
	t, err := r.repo.LoadTree(ctx, id)
	if err != nil {
		r.warn(path, fmt.Errorf("parent snapshot tree unreadable, reading all files: %w", err))
		return nil
	}
	return &parentDir{id: id, tree: t}
}
