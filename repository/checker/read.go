package checker

import (
	"context"
	"errors"
	"math/rand/v2"
	"path"
	"sort"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// readPacks reads whole packs, checks their names against their content,
// and opens every blob.
func (c *checker) readPacks(ctx context.Context, sizes map[pack.ID]int64) error {
	ids := make([]pack.ID, 0, len(sizes))
	for id := range sizes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	if c.opts.Subset > 0 && c.opts.Subset < 1 {
		rng := c.opts.Rand
		if rng == nil {
			rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
		}
		rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		n := int(float64(len(ids))*c.opts.Subset + 0.999999)
		ids = ids[:n]
	}
	c.opts.Progress.PacksTotal.Store(int64(len(ids)))
	byPack := map[pack.ID][]pack.Entry{}
	c.repo.Index().Each(func(t pack.BlobType, id pack.ID, l index.Location) {
		byPack[l.Pack] = append(byPack[l.Pack], l.Entry)
	})
	for p, entries := range c.orphanEntries {
		byPack[p] = entries
	}
	for _, id := range ids {
		if err := c.readPack(ctx, id, byPack[id]); err != nil {
			return err
		}
		c.rep.PacksRead++
		c.opts.Progress.PacksRead.Add(1)
	}
	return nil
}

func (c *checker) readPack(ctx context.Context, id pack.ID, entries []pack.Entry) error {
	name := repository.PackName(id)
	data, err := targets.ReadStored(ctx, c.repo.Target(), name)
	if _, marked := c.marked[id]; marked && errors.Is(err, targets.ErrNotFound) {
		return nil // swept by a prune since the listing
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.failed(name, err)
		c.markPack(id, "pack unreadable")
		return nil
	}
	if pack.Hash(data) != id {
		c.problem(name, "content does not match its name (damaged)")
		c.damagedPack(id)
	}
	if n, err := pack.HeaderLength(data, int64(len(data))); err != nil {
		c.problem(name, "%v", err)
	} else {
		start := int64(len(data) - 4 - n)
		if _, err := pack.ParseHeader(c.repo.Key(), data[start:len(data)-4], start); err != nil {
			c.problem(name, "header: %v", err)
		}
	}
	for _, e := range entries {
		end := int64(e.Offset) + int64(e.Length)
		if end > int64(len(data)) {
			continue // reported as truncated already
		}
		sealed := append([]byte(nil), data[e.Offset:end]...)
		if _, err := c.repo.OpenBlob(e, sealed, nil); err != nil {
			c.problem(name, "%v", err)
			c.markBad(e.Type, e.ID, err.Error())
			c.damagedPack(id)
		}
	}
	return nil
}

// findAffected walks every snapshot and lists the paths that use a bad blob.
func (c *checker) findAffected(ctx context.Context, snaps []*repository.Snapshot) error {
	for _, s := range snaps {
		var paths []string
		var walk func(id pack.ID, dir string) error
		walk = func(id pack.ID, dir string) error {
			if _, bad := c.bad[blobRef{pack.TreeBlob, id}]; bad {
				paths = append(paths, dir+" (directory listing)")
				return nil
			}
			t, err := c.repo.LoadTree(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				paths = append(paths, dir+" (directory listing)")
				return nil
			}
			for _, n := range t.Nodes {
				p := path.Join(dir, n.Name)
				for _, b := range n.Content {
					if _, bad := c.bad[blobRef{pack.DataBlob, b}]; bad {
						paths = append(paths, p)
						break
					}
				}
				if n.Subtree != nil {
					if err := walk(*n.Subtree, p); err != nil {
						return err
					}
				}
			}
			return nil
		}
		if err := walk(s.Tree, "/"); err != nil {
			return err
		}
		if len(paths) > 0 {
			c.rep.Affected = append(c.rep.Affected, Affected{Snapshot: s.ID.String(), Paths: paths})
		}
	}
	return nil
}
