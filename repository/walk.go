package repository

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// ErrSkipDir, returned by a Walk callback for a directory, skips its content.
var ErrSkipDir = errors.New("skip this directory")

// Walk calls fn for every node below the tree, depth first in name order,
// with slash paths starting at dir (use "/" for the root).
func (r *Repository) Walk(ctx context.Context, tree pack.ID, dir string, fn func(p string, n *Node) error) error {
	t, err := r.LoadTree(ctx, tree)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := path.Join(dir, n.Name)
		err := fn(p, n)
		if errors.Is(err, ErrSkipDir) {
			continue
		}
		if err != nil {
			return err
		}
		if n.Subtree != nil {
			if err := r.Walk(ctx, *n.Subtree, p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// EachTree calls fn once for every distinct tree reachable from roots,
// each before the trees below it, with the tree or the error that loading
// it gave. fn returning nil goes on into the tree's subtrees (there are none
// to follow when it could not be loaded), ErrSkipDir skips them, and any
// other error stops the walk and is returned.
func (r *Repository) EachTree(ctx context.Context, roots []pack.ID, fn func(id pack.ID, t *Tree, err error) error) error {
	seen := map[pack.ID]bool{}
	var visit func(id pack.ID) error
	visit = func(id pack.ID) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		t, err := r.LoadTree(ctx, id)
		if err := fn(id, t, err); err != nil || t == nil {
			if errors.Is(err, ErrSkipDir) {
				return nil
			}
			return err
		}
		for _, n := range t.Nodes {
			if n.Subtree != nil {
				if err := visit(*n.Subtree); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, id := range roots {
		if err := visit(id); err != nil {
			return err
		}
	}
	return nil
}

// FindNode resolves a slash path inside a snapshot ("/" is the root).
func (r *Repository) FindNode(ctx context.Context, sn *Snapshot, p string) (*Node, error) {
	root := sn.Root
	root.Subtree = &sn.Tree
	n := &root
	for _, name := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if name == "" {
			continue
		}
		if n.Subtree == nil {
			return nil, fmt.Errorf("%s: not a directory in snapshot %s", p, sn.ID.Short())
		}
		t, err := r.LoadTree(ctx, *n.Subtree)
		if err != nil {
			return nil, err
		}
		if n = t.Find(name); n == nil {
			return nil, fmt.Errorf("%s: no such file or directory in snapshot %s", p, sn.ID.Short())
		}
	}
	return n, nil
}
