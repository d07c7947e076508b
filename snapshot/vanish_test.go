package snapshot

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

// An entry that vanishes between the directory listing and its lstat is
// reported through OnError and left out, and the snapshot is marked
// incomplete.
func TestVanishedEntryIsSkipped(t *testing.T) {
	var reported []string
	a := New(nil, Options{OnError: func(path string, err error) {
		if errors.Is(err, fs.ErrNotExist) {
			reported = append(reported, path)
		}
	}})
	r := &run{Archiver: a}
	gone := filepath.Join(t.TempDir(), "gone")
	f := r.saveEntry(context.Background(), gone, "gone", nil)
	<-f.done
	if !f.skip || f.err != nil {
		t.Fatalf("future: skip %v err %v", f.skip, f.err)
	}
	if len(reported) != 1 || reported[0] != gone || r.errors != 1 || len(r.failures) != 1 {
		t.Fatalf("reported %v, errors %d, failures %v", reported, r.errors, r.failures)
	}
}
