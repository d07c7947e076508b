package snapshot

import (
	"context"
	"path"
	"slices"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// Change kinds, as shown by "lifeboat diff".
const (
	Added    = "+" // only in the second snapshot
	Removed  = "-" // only in the first
	Modified = "M" // content differs
	Metadata = "U" // same content, other metadata (mode, owner, times, xattrs)
	TypeChg  = "T" // the entry changed its type
)

// Change is one difference between two trees.
type Change struct {
	Kind string `json:"modifier"`
	Path string `json:"path"`
	Dir  bool   `json:"dir,omitempty"`
}

// DiffStats sums up a diff.
type DiffStats struct {
	Added, Removed, Modified, Metadata, TypeChanged int
}

// Diff compares two trees and calls fn for each change in path order.
// Subtrees with equal ids are skipped without being loaded.
func Diff(ctx context.Context, repo *repository.Repository, a, b pack.ID, fn func(Change)) (DiffStats, error) {
	var st DiffStats
	emit := func(c Change) {
		switch c.Kind {
		case Added:
			st.Added++
		case Removed:
			st.Removed++
		case Modified:
			st.Modified++
		case Metadata:
			st.Metadata++
		case TypeChg:
			st.TypeChanged++
		}
		fn(c)
	}
	err := diffTrees(ctx, repo, &a, &b, "/", emit)
	return st, err
}

func diffTrees(ctx context.Context, repo *repository.Repository, a, b *pack.ID, dir string, emit func(Change)) error {
	if a != nil && b != nil && *a == *b {
		return nil
	}
	load := func(id *pack.ID) ([]repository.Node, error) {
		if id == nil {
			return nil, nil
		}
		t, err := repo.LoadTree(ctx, *id)
		if err != nil {
			return nil, err
		}
		return t.Nodes, nil
	}
	an, err := load(a)
	if err != nil {
		return err
	}
	bn, err := load(b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(an) || j < len(bn) {
		switch {
		case j >= len(bn) || (i < len(an) && an[i].Name < bn[j].Name):
			n := &an[i]
			p := path.Join(dir, n.Name)
			emit(Change{Kind: Removed, Path: p, Dir: n.Type == repository.TypeDir})
			if err := diffTrees(ctx, repo, n.Subtree, nil, p, emit); err != nil {
				return err
			}
			i++
		case i >= len(an) || bn[j].Name < an[i].Name:
			n := &bn[j]
			p := path.Join(dir, n.Name)
			emit(Change{Kind: Added, Path: p, Dir: n.Type == repository.TypeDir})
			if err := diffTrees(ctx, repo, nil, n.Subtree, p, emit); err != nil {
				return err
			}
			j++
		default:
			x, y := &an[i], &bn[j]
			p := path.Join(dir, x.Name)
			isDir := x.Type == repository.TypeDir
			switch {
			case x.Type != y.Type:
				emit(Change{Kind: TypeChg, Path: p})
			case x.Type == repository.TypeFile && !slices.Equal(x.Content, y.Content):
				emit(Change{Kind: Modified, Path: p})
			case x.Type == repository.TypeSymlink && x.LinkTarget != y.LinkTarget:
				emit(Change{Kind: Modified, Path: p})
			case !sameMeta(x, y):
				emit(Change{Kind: Metadata, Path: p, Dir: isDir})
			}
			// A directory on either side: compare content (all added or
			// all removed when the other side is not a directory).
			if x.Subtree != nil || y.Subtree != nil {
				if err := diffTrees(ctx, repo, x.Subtree, y.Subtree, p, emit); err != nil {
					return err
				}
			}
			i++
			j++
		}
	}
	return nil
}

func sameMeta(x, y *repository.Node) bool {
	return x.Mode == y.Mode && x.UID == y.UID && x.GID == y.GID && x.ModTime == y.ModTime &&
		x.Rdev == y.Rdev && slices.EqualFunc(x.Xattrs, y.Xattrs, func(a, b repository.Xattr) bool {
		return a.Name == b.Name && string(a.Value) == string(b.Value)
	})
}
