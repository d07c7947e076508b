package restore

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/lifeboat-backup/lifeboat/internal/workers"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"golang.org/x/sys/unix"
)

// verify reads every restored file back and checks each chunk's keyed hash
// against the snapshot, so a bad disk or a concurrent writer is caught. A
// delta restore checks what it wrote: the files it wrote, and the chunks
// it wrote into the files it patched.
func (r *restorer) verify(ctx context.Context, ops []*op) error {
	var files []*op
	for _, o := range ops {
		if o.kind == opFile && !o.damaged && (o.touched || r.opts.Base == nil) {
			files = append(files, o)
		}
	}
	return workers.ForEach(ctx, len(files), r.opts.Workers, func(ctx context.Context, i int) error {
		o := files[i]
		d, release, err := r.dirs.get(o.dir)
		if err != nil {
			return wrap(o, err)
		}
		defer release()
		fd, err := unix.Openat(d.fd(), o.node.Name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return wrap(o, fmt.Errorf("verify: %w", err))
		}
		f := os.NewFile(uintptr(fd), o.node.Name)
		defer f.Close()
		var buf []byte
		var off int64
		for _, id := range o.node.Content {
			loc, ok := r.repo.Lookup(pack.DataBlob, id)
			if !ok {
				return wrap(o, fmt.Errorf("verify: chunk %s not in index", id.Short()))
			}
			n := int(loc.Entry.PlainLength())
			if o.kept[off] == id { // not written by this restore
				off += int64(n)
				continue
			}
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			if _, err := f.ReadAt(buf[:n], off); err != nil {
				return wrap(o, fmt.Errorf("verify: %w", err))
			}
			if r.repo.BlobID(buf[:n]) != id {
				return wrap(o, errors.New("verify: content differs from the snapshot"))
			}
			off += int64(n)
		}
		st, err := f.Stat()
		if err != nil {
			return wrap(o, fmt.Errorf("verify: %w", err))
		}
		if st.Size() != off {
			return wrap(o, fmt.Errorf("verify: the file has %d bytes, the snapshot %d", st.Size(), off))
		}
		r.count(func(res *Result) { res.Verified++ })
		return nil
	})
}
