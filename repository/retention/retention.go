// Package retention decides which snapshots a policy keeps. It is a pure
// function of the snapshots and the policy, as restic and kopia users know
// it: keep the last N, the newest of each of the last N hours, days, weeks,
// months and years, everything within a duration of the newest snapshot,
// and everything with a given tag.
package retention

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
)

// Policy is a retention policy; zero fields do not keep anything.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Within                                       time.Duration
	Tags                                         []string // keep every snapshot with one of these tags
	// Location is the time zone in which hours, days, weeks, months and
	// years are counted (time.Local if nil), as the user reads dates.
	Location *time.Location
	// PrePrune keeps snapshots tagged pre-prune (safety snapshots taken by
	// `lifeboat volume prune`) for this long after Now.
	PrePrune time.Duration
	Now      time.Time
}

// DefaultPrePrune is how long the safety snapshots of volume prune are kept
// unless a policy says otherwise.
const DefaultPrePrune = 30 * 24 * time.Hour

// PrePruneTag marks the safety snapshots of volume prune.
const PrePruneTag = "pre-prune"

// Validate refuses counts and durations below zero: a negative count kept
// nothing and let forget remove every snapshot.
func (p Policy) Validate() error {
	for _, c := range []struct {
		name string
		n    int
	}{{"last", p.Last}, {"hourly", p.Hourly}, {"daily", p.Daily}, {"weekly", p.Weekly}, {"monthly", p.Monthly}, {"yearly", p.Yearly}} {
		if c.n < 0 {
			return fmt.Errorf("keep %s must be 0 or more, not %d", c.name, c.n)
		}
	}
	if p.Within < 0 {
		return fmt.Errorf("keep within must be 0 or more, not %s", p.Within)
	}
	if p.PrePrune < 0 {
		return fmt.Errorf("keep pre-prune must be 0 or more, not %s", p.PrePrune)
	}
	for _, t := range p.Tags {
		if t == "" {
			return fmt.Errorf("keep tag must not be empty")
		}
	}
	return nil
}

// Empty reports whether the policy keeps nothing (forgetting everything is
// then almost certainly a mistake).
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 &&
		p.Yearly == 0 && p.Within == 0 && len(p.Tags) == 0
}

// Decision is what the policy does with one snapshot, and why.
type Decision struct {
	Snapshot *repository.Snapshot
	Keep     bool
	Reasons  []string // the rules that keep it
}

// Group is one set of snapshots the policy applies to on its own.
type Group struct {
	Key       string // host, paths and volume of its snapshots
	Decisions []Decision
}

// GroupKey groups snapshots by host and paths, and by volume for volume
// snapshots, so that every source keeps its own history.
func GroupKey(s *repository.Snapshot) string {
	paths := append([]string(nil), s.Paths...)
	sort.Strings(paths)
	key := "host " + s.Host + ", paths " + strings.Join(paths, ",")
	if s.Volume != nil {
		key = "host " + s.Host + ", volume " + s.Volume.Name
	}
	return key
}

// Apply groups the snapshots and decides, within each group, which the
// policy keeps. Groups and decisions are sorted, newest snapshot first.
// Whatever the policy, the newest snapshot of each group is kept: forget
// never empties a group, and never removes the snapshot a scheduled job has
// just made. The policy must be valid (Validate).
func Apply(snaps []*repository.Snapshot, p Policy) []Group {
	byKey := map[string][]*repository.Snapshot{}
	for _, s := range snaps {
		k := GroupKey(s)
		byKey[k] = append(byKey[k], s)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Group, 0, len(keys))
	for _, k := range keys {
		out = append(out, Group{Key: k, Decisions: decide(byKey[k], p)})
	}
	return out
}

type bucketRule struct {
	name  string
	count int
	key   func(time.Time) string
}

func decide(snaps []*repository.Snapshot, p Policy) []Decision {
	sorted := append([]*repository.Snapshot(nil), snaps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Time.After(sorted[j].Time) })
	ds := make([]Decision, len(sorted))
	for i, s := range sorted {
		ds[i].Snapshot = s
	}
	keep := func(i int, why string) {
		ds[i].Keep = true
		ds[i].Reasons = append(ds[i].Reasons, why)
	}
	if len(ds) > 0 {
		keep(0, "newest")
	}
	for i := 0; i < len(ds) && i < p.Last; i++ {
		keep(i, "last")
	}
	rules := []bucketRule{
		{"hourly", p.Hourly, func(t time.Time) string { return t.Format("2006-01-02 15") }},
		{"daily", p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{"monthly", p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{"yearly", p.Yearly, func(t time.Time) string { return t.Format("2006") }},
	}
	loc := p.Location
	if loc == nil {
		loc = time.Local
	}
	for _, r := range rules {
		seen, last := 0, ""
		for i := range ds {
			if seen >= r.count {
				break
			}
			// The newest snapshot of each bucket.
			if b := r.key(ds[i].Snapshot.Time.In(loc)); b != last {
				last = b
				seen++
				keep(i, r.name)
			}
		}
	}
	if p.Within > 0 && len(ds) > 0 {
		limit := ds[0].Snapshot.Time.Add(-p.Within)
		for i := range ds {
			if !ds[i].Snapshot.Time.Before(limit) {
				keep(i, "within "+p.Within.String())
			}
		}
	}
	for i := range ds {
		s := ds[i].Snapshot
		if p.PrePrune > 0 && s.HasTags([]string{PrePruneTag}) && p.Now.Sub(s.Time) < p.PrePrune {
			keep(i, "pre-prune safety snapshot")
		}
		for _, tag := range p.Tags {
			if ds[i].Snapshot.HasTags([]string{tag}) {
				keep(i, "tag "+tag)
			}
		}
	}
	return ds
}
