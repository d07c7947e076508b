package restore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
	"golang.org/x/sys/unix"
)

// An empty target is filled through a staging directory inside it, which
// is published at the end: renamed to a publishing name, then its entries
// moved into the target (see the package comment and docs/design.md).

// clearStaging removes the staging directories that a killed restore left
// in the target. With refuseOthers, a target holding anything else is
// refused with ErrTargetNotEmpty, and left as it is.
func clearStaging(root *os.Root, target string, refuseOthers bool) error {
	d, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("restore target: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("restore target: %w", err)
	}
	var stale []string
	for _, e := range entries {
		switch {
		case e.IsDir() && isStaging(e.Name()):
			stale = append(stale, e.Name())
		case refuseOthers:
			return fmt.Errorf("%w: %s (use --overwrite always|if-changed|never)", ErrTargetNotEmpty, target)
		}
	}
	for _, name := range stale {
		if err := root.RemoveAll(name); err != nil {
			return fmt.Errorf("restore target: removing what an interrupted restore left: %w", err)
		}
	}
	return nil
}

// isStaging reports whether name is one that makeStaging gives.
func isStaging(name string) bool { return isHidden(name, stagingPrefix) }

// isHidden reports whether name is prefix and 16 lower-case hex digits,
// as the restore's own hidden directories are named.
func isHidden(name, prefix string) bool {
	id, ok := strings.CutPrefix(name, prefix)
	if !ok || len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// makeStaging creates a new, empty staging directory in the target.
func makeStaging(root *os.Root) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := stagingPrefix + hex.EncodeToString(b[:])
	return name, root.Mkdir(name, 0o700)
}

// publish moves the restored top-level entries from the staging directory
// into the target, never replacing an entry that appeared meanwhile, and
// removes the then empty staging directory. It first renames the staging
// directory to job (a publishing name) and makes that rename durable, so
// that a restore killed part way leaves a directory that says its content
// is complete and must be moved in (finishPublishing).
func (r *restorer) publish(troot *os.Root, staging, job string, top []string) error {
	to, err := openDir(troot, "")
	if err != nil {
		return err
	}
	defer to.close()
	if err := unix.Renameat2(to.fd(), staging, to.fd(), job, unix.RENAME_NOREPLACE); err != nil {
		return fmt.Errorf("restore target: publish: %w", err)
	}
	if err := unix.Fsync(to.fd()); err != nil {
		return fmt.Errorf("restore target: publish: %w", err)
	}
	from, err := openDir(troot, job)
	if err != nil {
		return err
	}
	defer from.close()
	for _, name := range top {
		if err := unix.Renameat2(from.fd(), name, to.fd(), name, unix.RENAME_NOREPLACE); err != nil {
			return fmt.Errorf("restore /%s: %w", name, err)
		}
	}
	return unix.Unlinkat(to.fd(), job, unix.AT_REMOVEDIR)
}

// publishingName names the publishing directory of a restore: the same
// snapshot with the same selection gets the same name.
func publishingName(sn *repository.Snapshot, sel Selector) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%q\x00%q", sn.ID, sel.Include, sel.Exclude)
	return publishingPrefix + hex.EncodeToString(h.Sum(nil)[:8])
}

// finishPublishing moves into the target what a restore killed during its
// publication left in a publishing directory, removes the directory, and
// returns the names of those it finished. An entry that exists in both
// places stops it: something else was written into the target meanwhile.
func finishPublishing(root *os.Root, target string) (map[string]bool, error) {
	entries, err := readNames(root, ".")
	if err != nil {
		return nil, err
	}
	finished := map[string]bool{}
	for _, name := range entries {
		if !isHidden(name, publishingPrefix) {
			continue
		}
		to, err := openDir(root, "")
		if err != nil {
			return nil, err
		}
		err = moveAll(root, to, name)
		to.close()
		if err != nil {
			return nil, fmt.Errorf("restore target %s: finishing an interrupted restore: %w", target, err)
		}
		finished[name] = true
	}
	return finished, nil
}

// moveAll renames every entry of dir (in to) into to, then removes dir.
func moveAll(root *os.Root, to *dirHandle, dir string) error {
	names, err := readNames(root, dir)
	if err != nil {
		return err
	}
	from, err := openDir(root, dir)
	if err != nil {
		return err
	}
	defer from.close()
	for _, n := range names {
		if err := unix.Renameat2(from.fd(), n, to.fd(), n, unix.RENAME_NOREPLACE); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return unix.Unlinkat(to.fd(), dir, unix.AT_REMOVEDIR)
}

func readNames(root *os.Root, dir string) ([]string, error) {
	d, err := root.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("restore target: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("restore target: %w", err)
	}
	return names, nil
}

// finished completes a restore whose earlier run was killed while it
// published: the target holds its complete content now. It checks it if
// asked, and applies the root's metadata, which that run may not have.
func (r *restorer) finished(ctx context.Context, troot *os.Root, target string, sn *repository.Snapshot) (*Result, error) {
	r.res.Finished = true
	if err := clearStaging(troot, target, false); err != nil { // what yet another killed run left
		return &r.res, err
	}
	if r.opts.Verify {
		r.dirs = newDirCache(troot, 256)
		defer r.dirs.close()
		out := &emitter{size: r.batchSize(), flush: func(ops []*op) error { return r.verify(ctx, ops) }}
		if err := r.plan(ctx, nil, sn.Tree, nil, "", len(r.opts.Include) == 0, out); err != nil {
			return &r.res, err
		}
		if err := out.done(); err != nil {
			return &r.res, err
		}
	}
	if len(r.opts.Include) == 0 {
		if err := rootMeta(troot, target, &sn.Root); err != nil {
			return &r.res, err
		}
	}
	return &r.res, nil
}
