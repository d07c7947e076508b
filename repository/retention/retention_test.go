package retention

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
)

// series makes one snapshot every step, newest at end, for host h.
func series(n int, end time.Time, step time.Duration, host string) []*repository.Snapshot {
	var out []*repository.Snapshot
	for i := 0; i < n; i++ {
		out = append(out, &repository.Snapshot{Time: end.Add(-time.Duration(i) * step), Host: host,
			Paths: []string{"/data"}, ID: pack.ID{byte(i), byte(len(host))}})
	}
	return out
}

func kept(ds []Decision) string {
	var b []string
	for _, d := range ds {
		if d.Keep {
			b = append(b, d.Snapshot.Time.UTC().Format("01-02T15"))
		}
	}
	return strings.Join(b, " ")
}

func TestPolicies(t *testing.T) {
	end := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	hourly := series(72, end, time.Hour, "h") // three days, hourly
	cases := []struct {
		name   string
		policy Policy
		want   string
	}{
		{"last 3", Policy{Last: 3}, "11-28T12 11-28T11 11-28T10"},
		{"daily 3", Policy{Daily: 3}, "11-28T12 11-27T23 11-26T23"},
		{"hourly 2 + daily 2", Policy{Hourly: 2, Daily: 2}, "11-28T12 11-28T11 11-27T23"},
		{"within 3h", Policy{Within: 3 * time.Hour}, "11-28T12 11-28T11 11-28T10 11-28T09"},
		{"weekly 1", Policy{Weekly: 1}, "11-28T12"},
		{"monthly 5 finds one month", Policy{Monthly: 5}, "11-28T12"},
		{"empty keeps the newest", Policy{}, "11-28T12"},
		{"a tag nothing has keeps the newest", Policy{Tags: []string{"none"}}, "11-28T12"},
	}
	for _, c := range cases {
		c.policy.Location = time.UTC
		groups := Apply(hourly, c.policy)
		if len(groups) != 1 {
			t.Fatalf("%s: %d groups", c.name, len(groups))
		}
		if got := kept(groups[0].Decisions); got != c.want {
			t.Errorf("%s: kept %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTagsReasonsAndGroups(t *testing.T) {
	end := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	a := series(5, end, 24*time.Hour, "a")
	b := series(2, end, 24*time.Hour, "b")
	a[4].Tags = []string{"pre-prune"}
	vol := &repository.Snapshot{Time: end, Host: "a", Paths: []string{"/volumes/pg"}, Volume: &repository.VolumeInfo{Name: "pg"}}
	groups := Apply(append(append(a, b...), vol), Policy{Last: 1, Tags: []string{"pre-prune"}})
	if len(groups) != 3 {
		t.Fatalf("%d groups, want host a, host b, volume pg", len(groups))
	}
	var summary []string
	for _, g := range groups {
		n := 0
		for _, d := range g.Decisions {
			if d.Keep {
				n++
			}
		}
		summary = append(summary, fmt.Sprintf("%s=%d/%d", g.Key, n, len(g.Decisions)))
	}
	want := "host a, paths /data=2/5 host a, volume pg=1/1 host b, paths /data=1/2"
	if strings.Join(summary, " ") != want {
		t.Fatalf("groups %q", strings.Join(summary, " "))
	}
	last := groups[0].Decisions[4]
	if !last.Keep || strings.Join(last.Reasons, ",") != "tag pre-prune" {
		t.Fatalf("tagged snapshot: %+v", last)
	}
	if first := groups[0].Decisions[0]; strings.Join(first.Reasons, ",") != "newest,last" {
		t.Fatalf("reasons %v", first.Reasons)
	}
}

func TestPrePruneKeptForAWhile(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	young := &repository.Snapshot{Time: now.Add(-10 * 24 * time.Hour), Host: "h", Tags: []string{PrePruneTag}, ID: pack.ID{1}}
	old := &repository.Snapshot{Time: now.Add(-40 * 24 * time.Hour), Host: "h", Tags: []string{PrePruneTag}, ID: pack.ID{2}}
	plain := &repository.Snapshot{Time: now.Add(-time.Hour), Host: "h", ID: pack.ID{3}}
	g := Apply([]*repository.Snapshot{young, old, plain}, Policy{Last: 1, PrePrune: 30 * 24 * time.Hour, Now: now})
	got := map[pack.ID]bool{}
	for _, d := range g[0].Decisions {
		got[d.Snapshot.ID] = d.Keep
	}
	if !got[young.ID] || got[old.ID] || !got[plain.ID] {
		t.Fatalf("kept %v", got)
	}
}

// Negative counts and durations are refused: -1 once kept nothing.
func TestValidate(t *testing.T) {
	bad := []Policy{{Last: -1}, {Hourly: -1}, {Daily: -5}, {Weekly: -1}, {Monthly: -1}, {Yearly: -1},
		{Within: -48 * time.Hour}, {PrePrune: -time.Hour}, {Tags: []string{""}}}
	for _, p := range bad {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if len(bad) != 9 {
		t.Fatal("not every field tried")
	}
	for _, p := range []Policy{{}, {Last: 1, Daily: 7, Within: time.Hour, Tags: []string{"x"}}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v refused: %v", p, err)
		}
	}
}
