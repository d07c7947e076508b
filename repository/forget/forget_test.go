package forget_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/forget"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/repository/retention"
	"github.com/lifeboat-backup/lifeboat/targets"
)

// snapshots saves one snapshot a day for days days on host a, tagged
// job:a, and one on host b, and returns a's ids oldest first.
func snapshots(t *testing.T, repo *repository.Repository, now time.Time, days int) (a []pack.ID, b pack.ID) {
	t.Helper()
	ctx := context.Background()
	for i := days - 1; i >= 0; i-- {
		id, err := repo.SaveSnapshot(ctx, &repository.Snapshot{Time: now.Add(-time.Duration(i) * 24 * time.Hour), Host: "a", Paths: []string{"/d"}, Tags: []string{"job:a"}, Tree: pack.ID{1}})
		if err != nil {
			t.Fatal(err)
		}
		a = append(a, id)
	}
	b, err := repo.SaveSnapshot(ctx, &repository.Snapshot{Time: now.Add(-100 * 24 * time.Hour), Host: "b", Paths: []string{"/d"}, Tree: pack.ID{1}})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func stored(t *testing.T, repo *repository.Repository) []pack.ID {
	t.Helper()
	ids, err := repo.SnapshotIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestForgetByPolicy(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	repo, _ := repotest.New(t, repository.Options{Now: func() time.Time { return now }})
	a, b := snapshots(t, repo, now, 5)
	o := forget.Options{Filter: repository.Filter{Tags: []string{"job:a"}}, Policy: retention.Policy{Last: 2}, DryRun: true}
	dry, err := forget.Run(ctx, repo, o)
	if err != nil || len(dry.Groups) != 1 || !slices.Equal(sortIDs(dry.Removed), sortIDs(a[:3])) {
		t.Fatalf("dry run: %v, %d groups, removes %v, want the 3 oldest of %v", err, len(dry.Groups), dry.Removed, a)
	}
	if n := len(stored(t, repo)); n != 6 {
		t.Fatalf("a dry run removed snapshots: %d left of 6", n)
	}
	o.DryRun = false
	res, err := forget.Run(ctx, repo, o)
	if err != nil || !slices.Equal(sortIDs(res.Removed), sortIDs(dry.Removed)) {
		t.Fatalf("forget: %v, removed %v, want %v", err, res.Removed, dry.Removed)
	}
	if left := sortIDs(stored(t, repo)); !slices.Equal(left, sortIDs([]pack.ID{a[3], a[4], b})) {
		t.Fatalf("left %v, want the 2 newest of a and b's (outside the filter)", left)
	}
}

// Values that would widen the deletion are refused before anything is
// read: an empty or negative policy, ids and a policy together.
func TestForgetRefusesWhatWouldRemoveTooMuch(t *testing.T) {
	ctx := context.Background()
	repo, _ := repotest.New(t, repository.Options{})
	a, _ := snapshots(t, repo, time.Now(), 3)
	for name, o := range map[string]forget.Options{
		"no policy":       {},
		"negative count":  {Policy: retention.Policy{Last: -1}},
		"negative within": {Policy: retention.Policy{Daily: 1, Within: -time.Hour}},
		"ids and policy":  {IDs: []string{a[0].String()}, Policy: retention.Policy{Last: 1}},
		"short prefix":    {IDs: []string{a[0].String()[:2]}},
	} {
		if res, err := forget.Run(ctx, repo, o); err == nil {
			t.Errorf("%s: accepted, removed %v", name, res.Removed)
		}
		if n := len(stored(t, repo)); n != 4 {
			t.Fatalf("%s: %d snapshots left of 4", name, n)
		}
	}
	if _, err := forget.Run(ctx, repo, forget.Options{}); !errors.Is(err, forget.ErrNoPolicy) {
		t.Fatalf("no policy: %v, want ErrNoPolicy", err)
	}
}

// By id: a prefix, "latest", and a damaged snapshot, which cannot be
// loaded but can be named.
func TestForgetByID(t *testing.T) {
	ctx := context.Background()
	repo, store := repotest.New(t, repository.Options{})
	a, b := snapshots(t, repo, time.Now(), 3)
	damaged := a[0]
	name := "snapshots/" + damaged.String()
	data, err := targets.ReadAll(ctx, store, name)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := store.Put(ctx, name, data); err != nil {
		t.Fatal(err)
	}
	res, err := forget.Run(ctx, repo, forget.Options{IDs: []string{damaged.String()[:8], "latest"}})
	if err != nil || !slices.Equal(res.Removed, []pack.ID{damaged, a[2]}) || len(res.Groups) != 0 {
		t.Fatalf("forget by id: %v %+v, want %v then latest %v", err, res, damaged, a[2])
	}
	if left := sortIDs(stored(t, repo)); !slices.Equal(left, sortIDs([]pack.ID{a[1], b})) {
		t.Fatalf("left %v", left)
	}
}

func sortIDs(ids []pack.ID) []pack.ID {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(x, y pack.ID) int { return slices.Compare(x[:], y[:]) })
	return ids
}
