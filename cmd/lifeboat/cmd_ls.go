package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/spf13/cobra"
)

type lsOptions struct {
	long bool
	f    filterFlags
}

func newLsCmd(a *app) *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:   "ls SNAPSHOT [PATH]",
		Short: "List the files in a snapshot",
		Long: `List the entries of a snapshot below PATH (default: everything), recursively.

SNAPSHOT is "latest" (filtered by --host, --tag, --path) or a unique prefix of
a snapshot id. Paths in the snapshot start at "/", its root.
With --json every entry is a JSON line of type "node".`,
		Example: `  lifeboat ls latest
  lifeboat ls -l 3f2a9c /etc/nginx`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "/"
			if len(args) == 2 {
				dir = args[1]
			}
			return runLs(cmd.Context(), a, o, args[0], dir)
		},
	}
	cmd.Flags().BoolVarP(&o.long, "long", "l", false, "show mode, owner, size and time")
	o.f.register(cmd)
	return cmd
}

type nodeJSON struct {
	Path       string `json:"path"`
	Name       string `json:"name"`
	NodeType   string `json:"node_type"`
	Mode       string `json:"permissions"`
	UID        uint32 `json:"uid"`
	GID        uint32 `json:"gid"`
	Size       uint64 `json:"size"`
	MTime      string `json:"mtime"`
	LinkTarget string `json:"link_target,omitempty"`
}

func runLs(ctx context.Context, a *app, o lsOptions, ref, dir string) error {
	repo, done, err := a.openRepository(ctx, withoutLock, true)
	if err != nil {
		return err
	}
	defer done()
	sn, err := findSnapshot(ctx, repo, ref, o.f.filter())
	if err != nil {
		return err
	}
	start, err := repo.FindNode(ctx, sn, dir)
	if err != nil {
		return err
	}
	show := func(p string, n *repository.Node) error {
		mt := time.Unix(0, n.ModTime)
		a.out.result("node", nodeJSON{Path: p, Name: n.Name, NodeType: n.Type, Mode: modeString(n), UID: n.UID, GID: n.GID,
			Size: n.Size, MTime: mt.Format(time.RFC3339Nano), LinkTarget: n.LinkTarget}, func(w io.Writer) {
			name := repository.DisplayName(p)
			if n.Type == repository.TypeSymlink {
				name += " -> " + repository.DisplayName(n.LinkTarget)
			}
			if o.long {
				fmt.Fprintf(w, "%s %5d %5d %12d %s %s\n", modeString(n), n.UID, n.GID, n.Size, mt.Local().Format("2006-01-02 15:04:05"), name)
			} else {
				fmt.Fprintln(w, name)
			}
		})
		return nil
	}
	if start.Subtree == nil {
		return show(dir, start)
	}
	return repo.Walk(ctx, *start.Subtree, cleanSlash(dir), show)
}

func cleanSlash(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return p
}

// modeString renders a node's type and permissions like ls -l.
func modeString(n *repository.Node) string {
	m := fs.FileMode(n.Mode & 0o777)
	if n.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch n.Type {
	case repository.TypeDir:
		m |= fs.ModeDir
	case repository.TypeSymlink:
		m |= fs.ModeSymlink
	case repository.TypeFifo:
		m |= fs.ModeNamedPipe
	case repository.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case repository.TypeBlock:
		m |= fs.ModeDevice
	case repository.TypeSocket:
		m |= fs.ModeSocket
	}
	return m.String()
}
