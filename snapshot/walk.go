package snapshot

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

func readDirNames(path string) ([]string, error) {
	d, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// scan counts files and bytes ahead of the backup, for an ETA. Walking
// ahead, it also brings the directories and inodes into the cache before
// the backup's own walk needs them: without it, a backup of unchanged files
// on a cold cache takes a fifth longer (measured with the bench harness).
func scan(ctx context.Context, paths []string, p *Progress) {
	for _, root := range paths {
		_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				p.TotalFiles.Add(1)
				p.TotalBytes.Add(fi.Size())
			}
			return nil
		})
	}
	p.ScanDone.Store(ctx.Err() == nil)
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
