package snapshot

import (
	"errors"
	"io/fs"
	"testing"
)

// An entry gone while a volume in use is read (a live round) is counted and
// left out; while its users are stopped (awaitGo) it is an error, so that no
// copy reports a match for a tree it did not read whole.
func TestSendVanishedOnlyInUse(t *testing.T) {
	gone := &fs.PathError{Op: "lstat", Path: "/volumes/pg/pg_wal/x", Err: fs.ErrNotExist}
	live := &sender{inUse: true, st: &SendStats{}}
	if !live.vanished(gone) || live.st.Vanished != 1 {
		t.Fatalf("a volume in use: vanished %d", live.st.Vanished)
	}
	if live.vanished(errors.New("permission denied")) {
		t.Fatal("another error taken for a vanished entry")
	}
	stopped := &sender{inUse: false, st: &SendStats{}}
	if stopped.vanished(gone) || stopped.st.Vanished != 0 {
		t.Fatal("an entry gone while the users were stopped was taken as expected")
	}
}
