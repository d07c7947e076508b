package repository

import (
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// "latest" never picks a snapshot that a repaired copy supersedes, even
// when both have the same time, in either order.
func TestLatestPrefersRepairedCopy(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	orig := &Snapshot{ID: pack.Hash([]byte("orig")), Time: at, Host: "h"}
	copyOf := orig.ID
	repaired := &Snapshot{ID: pack.Hash([]byte("repaired")), Time: at, Host: "h", Tags: []string{RepairedTag}, Parent: &copyOf}
	older := &Snapshot{ID: pack.Hash([]byte("older")), Time: at.Add(-time.Hour), Host: "h"}
	for _, all := range [][]*Snapshot{{older, orig, repaired}, {repaired, orig, older}} {
		got, err := FindSnapshot(all, "latest", Filter{Host: "h"})
		if err != nil || got != repaired {
			t.Fatalf("latest of %d snapshots: %v, %v; want the repaired copy", len(all), got, err)
		}
	}
	// Without its repaired copy the original is latest again.
	got, err := FindSnapshot([]*Snapshot{older, orig}, "latest", Filter{})
	if err != nil || got != orig {
		t.Fatalf("without a repaired copy: %v, %v; want the original", got, err)
	}
}
