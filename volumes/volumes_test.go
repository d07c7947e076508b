package volumes

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/sidecar"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

func labelled() map[string]string { return map[string]string{sidecar.LabelStop: "true"} }

// A backup stops a labelled user just while its volume is copied and warns
// about an unlabelled one; a volume that does not exist is reported before
// the sidecar image is built; a failed volume fails the backup by name.
func TestBackupRules(t *testing.T) {
	ctx := context.Background()
	e := newFake("local", map[string]map[string]string{})
	e.addVolume("pg", map[string]string{"db": "pages"})
	e.addVolume("cache", map[string]string{"c": "x"})
	e.addContainer("db", true, labelled(), "pg")
	e.addContainer("web", true, nil, "cache")
	r := &fakeReporter{}

	if _, err := Backup(ctx, e, sc, r, BackupOptions{Selection: sidecar.Selection{Names: []string{"nope"}}}); err == nil {
		t.Fatal("an unknown volume was accepted")
	}
	if got := e.did("image"); len(got) != 0 {
		t.Fatalf("the image was built for an unknown volume: %v", got)
	}

	res, err := Backup(ctx, e, sc, r, BackupOptions{Selection: sidecar.Selection{Names: []string{"pg", "cache"}}})
	if err != nil || len(res.Reports) != 2 {
		t.Fatalf("backup: %v %+v", err, res)
	}
	want := []string{"image", "stop db", "snapshot pg", "start db", "snapshot cache"}
	if got := e.did(""); !slices.Equal(got, want) {
		t.Fatalf("engine log %v, want %v", got, want)
	}
	if len(r.events) != 2 || r.events[0].Action != sidecar.ActionStop || r.events[0].Container != "db" ||
		r.events[1].Action != sidecar.ActionInUse || r.events[1].Container != "web" {
		t.Fatalf("events %+v, want the stop of db and one in-use warning about web", r.events)
	}

	e.failBackup["cache"] = true
	_, err = Backup(ctx, e, sc, r, BackupOptions{Selection: sidecar.Selection{Names: []string{"pg", "cache"}}})
	if err == nil || !strings.Contains(err.Error(), "cache") || errors.Is(err, snapshot.ErrIncomplete) {
		t.Fatalf("a failed volume: %v", err)
	}
	if !e.byName("db").running {
		t.Fatal("db was left stopped")
	}
}

// Prune snapshots what would be pruned and removes only what it saved;
// nothing happens without confirmation; a dry run builds nothing.
func TestPruneRules(t *testing.T) {
	ctx := context.Background()
	e := newFake("local", map[string]map[string]string{})
	e.addVolume("old", map[string]string{"a": "1"})
	e.addVolume("broken", map[string]string{"b": "2"})
	e.addVolume("used", map[string]string{"c": "3"})
	e.addContainer("app", false, nil, "used")
	r := &fakeReporter{}

	res, err := Prune(ctx, e, sc, r, PruneOptions{DryRun: true})
	if err != nil || !slices.Equal(res.Candidates, []string{"broken", "old"}) || len(e.did("")) != 0 {
		t.Fatalf("dry run: %v %+v, engine log %v", err, res, e.did(""))
	}
	no := func([]string) (bool, error) { return false, nil }
	if _, err := Prune(ctx, e, sc, r, PruneOptions{Confirm: no}); !errors.Is(err, ErrNotConfirmed) || len(e.did("")) != 0 {
		t.Fatalf("unconfirmed: %v, engine log %v", err, e.did(""))
	}
	e.failBackup["broken"] = true
	yes := func([]string) (bool, error) { return true, nil }
	res, err = Prune(ctx, e, sc, r, PruneOptions{Confirm: yes})
	if err == nil || !slices.Equal(res.Removed, []string{"old"}) || !slices.Equal(res.Kept, []string{"broken"}) {
		t.Fatalf("prune with a failed snapshot: %v %+v", err, res)
	}
	if got := e.did("remove volume"); !slices.Equal(got, []string{"remove volume old"}) {
		t.Fatalf("removed %v, want only old", got)
	}
}

// Migrate with StopSource stops the source's users and leaves them
// stopped after a success; when the copy fails afterwards they run again
// and the error says so; a destination that is not empty needs Force, and
// Force makes it equal to the source.
func TestMigrateRules(t *testing.T) {
	ctx := context.Background()
	store := map[string]map[string]string{}
	src, dst := newFake("src", store), newFake("dst", store)
	src.addVolume("pg", map[string]string{"wal/1": "one"})
	src.addContainer("db", true, nil, "pg")
	dst.addVolume("pg", map[string]string{"wal/1": "old", "wal/2": "stale"})
	r := &fakeReporter{}

	_, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true})
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "started again") {
		t.Fatalf("a destination that is not empty: %v", err)
	}
	if !src.byName("db").running {
		t.Fatal("the application was left stopped after a failed migration")
	}

	moved, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true, Force: true})
	if err != nil || len(moved.Volumes) != 1 || !moved.Volumes[0].Match {
		t.Fatalf("migrate --force: %v %+v", err, moved)
	}
	if src.byName("db").running {
		t.Fatal("the application runs again after migrate --stop-source")
	}
	if got := dst.volumes["pg"].files; len(got) != 1 || got["wal/1"] != "one" {
		t.Fatalf("destination holds %v, want exactly the source", got)
	}

	// Without StopSource the labels rule, as in a backup.
	src.byName("db").running, src.byName("db").labels = true, labelled()
	src.log = nil
	if _, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := src.did(""); !slices.Equal(got, []string{"image", "stop db", "snapshot pg", "start db"}) {
		t.Fatalf("source log %v", got)
	}

	// Direct: the destination's half fails; the stopped application runs
	// again.
	dst.failDirect = true
	_, err = Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true, Force: true, Direct: true})
	if !errors.Is(err, errBoom) || !src.byName("db").running || len(src.did("send pg")) != 1 {
		t.Fatalf("direct copy failing: %v, running %v, sent %v", err, src.byName("db").running, src.did("send"))
	}
	dst.failDirect = false

	// Every migration that stops the source reports how long it was down
	// (--direct did not), and one that stops nothing reports none.
	for _, o := range []MigrateOptions{{StopSource: true}, {StopSource: true, Direct: true}, {Direct: true}, {}} {
		src.byName("db").running = true
		o.Names, o.Force = []string{"pg"}, true
		m, err := Migrate(ctx, src, dst, sc, r, o)
		if err != nil || (m.Downtime > 0) != o.StopSource {
			t.Fatalf("%+v: downtime %v, %v", o, m.Downtime, err)
		}
	}
}

// A live migration copies while the application runs, stops it only for
// a last round restored as a delta, and starts it again on the source if
// anything fails after the stop.
func TestMigrateLiveRules(t *testing.T) {
	ctx := context.Background()
	store := map[string]map[string]string{}
	src, dst := newFake("src", store), newFake("dst", store)
	src.addVolume("pg", map[string]string{"wal/1": "one"})
	src.addContainer("db", true, nil, "pg")
	r := &fakeReporter{}

	live := MigrateOptions{Names: []string{"pg"}, StopSource: true, Live: true, MaxRounds: DefaultMaxRounds}

	// The destination fails once the application is stopped: it runs again.
	src.onStop = func(*fakeEngine) { dst.failRestore = true }
	_, err := Migrate(ctx, src, dst, sc, r, live)
	if err == nil || !strings.Contains(err.Error(), "started again") || !src.byName("db").running {
		t.Fatalf("a failure after the stop: %v, running %v", err, src.byName("db").running)
	}

	// The last snapshot fails: the restore started ahead is let go, the
	// destination keeps the earlier round's copy, the application runs.
	dst.failRestore = false
	src.onStop = func(f *fakeEngine) { f.failBackup["pg"] = true }
	_, err = Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true, Live: true, Force: true, MaxRounds: DefaultMaxRounds})
	if err == nil || !strings.Contains(err.Error(), "started again") || !src.byName("db").running || dst.volumes["pg"].files["wal/1"] != "one" {
		t.Fatalf("a failed last snapshot: %v, running %v, destination %v", err, src.byName("db").running, dst.volumes["pg"].files)
	}
	src.failBackup["pg"] = false
	src.log, dst.log, src.envs, dst.envs = nil, nil, nil, nil
	src.onStop = func(f *fakeEngine) { f.volumes["pg"].files["wal/2"] = "last" } // written as it stops
	m, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true, Live: true, Force: true, MaxRounds: DefaultMaxRounds})
	if err != nil || len(m.Volumes) != 1 || !m.Volumes[0].Match || len(m.Rounds) != 3 || m.Downtime <= 0 {
		t.Fatalf("live migration: %v %+v", err, m)
	}
	if got, want := src.did(""), []string{"image", "snapshot pg", "snapshot pg", "stop db", "snapshot pg"}; !slices.Equal(got, want) {
		t.Fatalf("source log %q, want %q", got, want)
	}
	if got, want := dst.did("restore"), []string{"restore pg", "restore pg (delta)", "restore pg (delta)"}; !slices.Equal(got, want) {
		t.Fatalf("destination log %q, want %q", got, want)
	}
	if got := dst.volumes["pg"].files; len(got) != 2 || got["wal/2"] != "last" {
		t.Fatalf("destination holds %v, want the source as it stopped", got)
	}
	if src.byName("db").running {
		t.Fatal("the application runs again on the source after migrate --live --stop-source")
	}
	// The rounds' sidecars collect garbage for speed (roundGC).
	envs := slices.Concat(src.envs, dst.envs)
	for _, env := range envs {
		if !slices.Contains(env, roundGC) {
			t.Fatalf("a round's sidecar has the environment %q, without %s", env, roundGC)
		}
	}
	if len(envs) < 6 {
		t.Fatalf("%d sidecar jobs recorded, want the rounds' 6 at least", len(envs))
	}
}

// Upgrade copies the volumes, runs the new image on the copies and keeps
// the old container; a new container that fails is undone entirely; a
// rollback stops the new one, removes it and brings the old one back.
func TestUpgradeRules(t *testing.T) {
	ctx := context.Background()
	e := newFake("local", map[string]map[string]string{})
	e.addVolume("pg", map[string]string{"db": "v1"})
	e.addContainer("shop", true, labelled(), "pg") // stopped for a backup: not for the copy made while it runs
	e.images["app:2"] = true
	r := &fakeReporter{}

	if _, err := Upgrade(ctx, e, sc, r, UpgradeOptions{Container: "shop", Image: "app:missing"}); err == nil || len(e.did("")) != 0 {
		t.Fatalf("a missing image: %v, engine log %v", err, e.did(""))
	}

	e.unhealthy = true
	_, err := Upgrade(ctx, e, sc, r, UpgradeOptions{Container: "shop", Image: "app:2"})
	if !errors.Is(err, sidecar.ErrNotHealthy) || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("a failing image: %v", err)
	}
	old := e.byName("shop")
	if old == nil || old.id != "id-shop" || !old.running || len(e.volumes) != 1 {
		t.Fatalf("after a failed upgrade: container %+v, volumes %d", old, len(e.volumes))
	}
	if len(r.warns) == 0 || !strings.Contains(r.warns[len(r.warns)-1], "going down") {
		t.Fatalf("the new container's last words were not reported: %v", r.warns)
	}

	e.unhealthy = false
	e.log = nil
	e.onStop = func(f *fakeEngine) { f.volumes["pg"].files["db"] = "v1"; f.onStop = nil } // the last write before the stop
	e.volumes["pg"].files["db"] = "v0"
	up, err := Upgrade(ctx, e, sc, r, UpgradeOptions{Container: "shop", Image: "app:2"})
	if err != nil {
		t.Fatal(err)
	}
	// Copied while it ran, then only the delta while it was stopped.
	if got, want := e.did(""), []string{"image", "snapshot pg", "create volume pg-", "restore pg-", "start restore pg-", "stop shop", "snapshot pg", "restore pg-", "rename shop-lifeboat-old", "create container shop on app:2", "start shop"}; !prefixesMatch(got, want) {
		t.Fatalf("upgrade log %q, want lines starting with %q", got, want)
	}
	if delta := e.did("restore"); !strings.HasSuffix(delta[len(delta)-1], "(delta)") {
		t.Fatalf("the second restore was not a delta: %q", delta)
	}
	cur, prev := e.byName("shop"), e.byName(sidecar.OldName("shop"))
	if cur == nil || cur.image != "app:2" || !cur.running || prev == nil || prev.running || prev.id != "id-shop" {
		t.Fatalf("after the upgrade: new %+v, old %+v", cur, prev)
	}
	copyName := up.Volumes["pg"]
	if copyName == "" || e.volumes[copyName].files["db"] != "v1" || !slices.Equal(cur.volumes, []string{copyName}) {
		t.Fatalf("the new container does not run on a copy of pg: %+v %v", up, cur.volumes)
	}

	e.log = nil
	kept, err := Rollback(ctx, e, r, "shop")
	if err != nil || !slices.Equal(kept, []string{copyName}) {
		t.Fatalf("rollback: %v, kept %v", err, kept)
	}
	want := []string{"stop shop", "remove container shop", "rename shop", "start shop"}
	if got := e.did(""); !slices.Equal(got, want) {
		t.Fatalf("rollback log %v, want %v", got, want)
	}
	if c := e.byName("shop"); c.id != "id-shop" || !c.running {
		t.Fatalf("after rollback: %+v", c)
	}
}

// prefixesMatch reports whether got has as many lines as want, each
// starting with want's.
func prefixesMatch(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			return false
		}
	}
	return true
}

// migrate --start sends the image the destination lacks before anything
// stops, starts a container like the source's on the copies there, and
// leaves the source stopped; one that does not become healthy is removed
// and the source runs again.
func TestMigrateStartRules(t *testing.T) {
	ctx := context.Background()
	store := map[string]map[string]string{}
	src, dst := newFake("src", store), newFake("dst", store)
	src.addVolume("pg", map[string]string{"db": "v1"})
	src.addContainer("db", true, nil, "pg")
	src.images["app:1"] = true
	r := &fakeReporter{}
	start := MigrateOptions{Container: "db", Live: true, Start: true, WaitHealthy: time.Minute, MaxRounds: DefaultMaxRounds}

	if _, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, Start: true}); err == nil || len(src.did("snapshot")) > 0 {
		t.Fatalf("--start without a container: %v", err)
	}

	dst.unhealthy = true
	_, err := Migrate(ctx, src, dst, sc, r, start)
	if !errors.Is(err, sidecar.ErrNotHealthy) || !strings.Contains(err.Error(), "started again") || !src.byName("db").running || dst.byName("db") != nil {
		t.Fatalf("a container that does not start on the destination: %v; source running %v, destination %+v", err, src.byName("db").running, dst.byName("db"))
	}
	if got := dst.did("load image"); !slices.Equal(got, []string{"load image app:1"}) {
		t.Fatalf("image sent: %q", got)
	}

	dst.unhealthy = false
	dst.log = nil
	m, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Container: "db", Live: true, Start: true, Force: true, WaitHealthy: time.Minute, MaxRounds: DefaultMaxRounds})
	if err != nil || m.Container != "db" || m.Downtime <= 0 {
		t.Fatalf("migrate --start: %v %+v", err, m)
	}
	if c := dst.byName("db"); c == nil || !c.running || c.image != "app:1" || !slices.Equal(c.volumes, []string{"pg"}) || dst.volumes["pg"].files["db"] != "v1" {
		t.Fatalf("destination container %+v", c)
	}
	if len(dst.did("load image")) != 0 {
		t.Fatal("the image was sent again although the destination has it")
	}
	if src.byName("db").running {
		t.Fatal("the source container runs again after migrate --start")
	}
	if _, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Container: "db", Start: true, Force: true, WaitHealthy: time.Minute}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a container of that name on the destination: %v", err)
	}
}

func TestSidecarExit(t *testing.T) {
	for code, want := range map[int]string{137: "the sidecar was killed (signal 9)", 143: "the sidecar was killed (signal 15)",
		1: "sidecar exited with code 1", 255: "sidecar exited with code 255", 128: "sidecar exited with code 128"} {
		if got := sidecarExit(code); got != want {
			t.Errorf("code %d: %q, want %q", code, got, want)
		}
	}
}

// migrate --live --direct streams rounds while the application runs and a
// last one once it has stopped: that round's sidecars are started before
// the stop, but its source reads only after it (what the application
// writes as it stops arrives). A failure after the stop starts it again.
func TestMigrateLiveDirect(t *testing.T) {
	ctx := context.Background()
	store := map[string]map[string]string{}
	src, dst := newFake("unix:///src", store), newFake("unix:///dst", store)
	src.addVolume("pg", map[string]string{"wal/1": "one"})
	src.addContainer("db", true, nil, "pg")
	r := &fakeReporter{}
	o := MigrateOptions{Names: []string{"pg"}, StopSource: true, Live: true, Direct: true, MaxRounds: DefaultMaxRounds}

	src.onStop = func(*fakeEngine) { dst.failDirect = true }
	_, err := Migrate(ctx, src, dst, sc, r, o)
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "started again") || !src.byName("db").running {
		t.Fatalf("a failure after the stop: %v, running %v", err, src.byName("db").running)
	}
	dst.failDirect = false

	src.log = nil
	src.onStop = func(f *fakeEngine) { f.volumes["pg"].files["wal/2"] = "last" } // written as it stops
	m, err := Migrate(ctx, src, dst, sc, r, o)
	if err != nil || len(m.Volumes) != 1 || !m.Volumes[0].Match || m.Downtime <= 0 {
		t.Fatalf("live direct migration: %v %+v", err, m)
	}
	// The rounds send the same bytes, so the second one ends them.
	if got, want := src.did(""), []string{"image", "send pg", "send pg", "stop db", "send pg (after the go-ahead)"}; !slices.Equal(got, want) {
		t.Fatalf("source log %q, want %q", got, want)
	}
	if len(m.Rounds) != 3 || m.Rounds[2].Sent <= 0 {
		t.Fatalf("rounds %+v, want two while it ran and the last", m.Rounds)
	}
	if got := dst.volumes["pg"].files; len(got) != 2 || got["wal/2"] != "last" {
		t.Fatalf("destination holds %v, want the source as it stopped", got)
	}
	if src.byName("db").running {
		t.Fatal("the application runs again on the source after migrate --live --direct --stop-source")
	}
}

// migrate --direct labels the volume it creates as the copy of the
// source's; migrating again updates that copy without --force, but only
// while no container on the destination uses it, and never a volume it
// did not create.
func TestMigrateDirectUpdatesItsCopy(t *testing.T) {
	ctx := context.Background()
	store := map[string]map[string]string{}
	src, dst := newFake("unix:///src", store), newFake("unix:///dst", store)
	src.addVolume("pg", map[string]string{"db": "pages"})
	r := &fakeReporter{}
	opts := MigrateOptions{Names: []string{"pg"}, Direct: true}
	if _, err := Migrate(ctx, src, dst, sc, r, opts); err != nil {
		t.Fatal(err)
	}
	if got := dst.volumes["pg"].labels[LabelDirectCopyOf]; got != "unix:///src pg" {
		t.Fatalf("the copy's label: %q", got)
	}
	if _, err := Migrate(ctx, src, dst, sc, r, opts); err != nil {
		t.Fatal(err)
	}
	src.volumes["pg"].files["db"] = "pages, changed"
	dst.addContainer("app", false, nil, "pg") // the copy is in use there now
	if _, err := Migrate(ctx, src, dst, sc, r, opts); err == nil || !strings.Contains(err.Error(), "needs --force") {
		t.Fatalf("updating a copy that a container there uses, without --force: %v", err)
	}
	other := newFake("unix:///other", store) // the same name on another source
	other.addVolume("pg", map[string]string{"db": "else"})
	if _, err := Migrate(ctx, other, dst, sc, r, opts); err == nil || !strings.Contains(err.Error(), "needs --force") {
		t.Fatalf("another source's volume of the same name, without --force: %v", err)
	}
	if !slices.Equal(dst.overwrites, []bool{false, true, false, false}) {
		t.Fatalf("overwrite per run: %v, want: new, its unused copy, in use, another source's", dst.overwrites)
	}
	if got := dst.volumes["pg"].files["db"]; got != "pages" {
		t.Fatalf("the destination holds %q, want the copy the refused runs left alone", got)
	}
}

// The one rule for writing into a volume: a running user labelled
// lifeboat.stop=true is stopped for the write and started again; any other
// running user makes the command refuse before anything is copied, whatever
// --force says. The same for a restore and for a migration's destination.
func TestWriteOnlyUnderStoppedUsers(t *testing.T) {
	ctx := context.Background()
	store := map[string]map[string]string{}
	e := newFake("local", store)
	e.addVolume("pg", map[string]string{"base/1": "old"})
	app := e.addContainer("db", true, nil, "pg")
	r := &fakeReporter{}
	sum, err := Backup(ctx, e, sc, r, BackupOptions{Selection: sidecar.Selection{Names: []string{"pg"}}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := pack.ParseID(sum.Reports[0].SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	sn := &repository.Snapshot{ID: id}

	e.log = nil
	_, err = Restore(ctx, e, sc, r, RestoreOptions{Snapshot: sn, Volume: "pg", Force: true})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "db") || !strings.Contains(err.Error(), sidecar.LabelStop) {
		t.Fatalf("restore under an unlabelled running container: %v", err)
	}
	if got := e.did(""); len(got) != 0 || !app.running {
		t.Fatalf("a refused restore did %v (db running: %v)", got, app.running)
	}

	app.labels = labelled()
	if _, err := Restore(ctx, e, sc, r, RestoreOptions{Snapshot: sn, Volume: "pg", Force: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := e.did(""), []string{"stop db", "image", "restore pg", "start db"}; !slices.Equal(got, want) || !app.running {
		t.Fatalf("restore under a labelled container: log %v, want %v (running: %v)", got, want, app.running)
	}

	// A migration's destination: refused before the source is touched.
	src := newFake("src", store)
	src.addVolume("pg", map[string]string{"base/1": "new"})
	src.addContainer("db", true, nil, "pg")
	app.labels = nil
	e.log = nil
	for _, live := range []bool{false, true} {
		o := MigrateOptions{Names: []string{"pg"}, StopSource: true, Force: true, Live: live}
		if live {
			o.MaxRounds = DefaultMaxRounds
		}
		_, err = Migrate(ctx, src, e, sc, r, o)
		if !errors.Is(err, ErrInUse) || len(src.did("")) != 0 || len(e.did("")) != 0 {
			t.Fatalf("migrate (live %v) onto a volume in use: %v; source did %v, destination %v", live, err, src.did(""), e.did(""))
		}
	}
	app.labels = labelled()
	// With Start the copies are for the container started there: a
	// labelled user is not stopped and started again on them, it refuses.
	src.images["app:1"] = true
	shop := src.addContainer("shop", false, nil, "pg")
	_, err = Migrate(ctx, src, e, sc, r, MigrateOptions{Container: "shop", Start: true, Live: true, Force: true, WaitHealthy: time.Minute, MaxRounds: DefaultMaxRounds})
	delete(src.containers, shop.id)
	if !errors.Is(err, ErrInUse) || len(e.did("stop")) != 0 || !app.running {
		t.Fatalf("migrate --start onto a volume a labelled container uses: %v; destination did %v", err, e.did(""))
	}
	src.log, e.log = nil, nil
	if _, err := Migrate(ctx, src, e, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true, Force: true, Live: true, MaxRounds: DefaultMaxRounds}); err != nil {
		t.Fatal(err)
	}
	got := e.did("")
	if got[0] != "stop db" || got[len(got)-1] != "start db" || !app.running {
		t.Fatalf("destination log %v: want db stopped first and started last", got)
	}
	for _, l := range append(got, src.did("")...) {
		if strings.HasPrefix(l, "WROTE UNDER") {
			t.Fatalf("%s (log %v)", l, got)
		}
	}
}

// Failure paths say what they could not undo: a second upgrade while the
// first's old container exists is refused before anything stops; an
// upgrade whose new container fails, and whose old one then cannot get its
// name back or start, does not claim to have rolled back; a migration
// whose stopped source cannot be started again says so.
func TestUndoFailuresReported(t *testing.T) {
	ctx := context.Background()
	store := map[string]map[string]string{}
	e := newFake("local", store)
	e.addVolume("pg", map[string]string{"db": "v0"})
	e.addContainer("shop", true, nil, "pg")
	e.images["app:2"] = true
	r := &fakeReporter{}

	prev := e.addContainer(sidecar.OldName("shop"), false, nil, "pg")
	_, err := Upgrade(ctx, e, sc, r, UpgradeOptions{Container: "shop", Image: "app:2"})
	if err == nil || !strings.Contains(err.Error(), "lifeboat rollback shop") || len(e.did("")) != 0 {
		t.Fatalf("a second upgrade: %v, engine log %v", err, e.did(""))
	}
	delete(e.containers, prev.id)

	e.unhealthy = true
	e.log = nil
	upgradeFailing := func() error {
		_, err := Upgrade(ctx, e, sc, r, UpgradeOptions{Container: "shop", Image: "app:2"})
		return err
	}
	// The undo fails at the rename back: the new container is gone, the
	// old one keeps its other name.
	renames := 0
	e.afterRename = func(f *fakeEngine) {
		if renames++; renames == 1 {
			f.failRename = true // the rename away worked; the one back fails
		}
	}
	err = upgradeFailing()
	if err == nil || strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "could not undo") || !strings.Contains(err.Error(), "its name shop back") {
		t.Fatalf("a failed upgrade whose undo fails: %v", err)
	}
	e.failRename, e.afterRename = false, nil

	// A live migration failing after the stop, its source not starting
	// again.
	dst := newFake("dst", store)
	dst.failRestore = true
	src := e
	src.unhealthy = false
	for _, c := range src.containers {
		c.running = true
	}
	src.failStart = false
	src.onStop = func(f *fakeEngine) { f.failStart = true }
	_, err = Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true})
	if err == nil || strings.Contains(err.Error(), "were started again") || !strings.Contains(err.Error(), "could not undo its stop") {
		t.Fatalf("a failed migration whose restart fails: %v", err)
	}
}

// The rounds copied while the volumes are in use do not show the warnings
// of files that changed while read (the last round copies them again);
// the last round's warnings, and every other warning, are shown.
func TestLiveRoundsHideExpectedChanges(t *testing.T) {
	ctx := context.Background()
	e := newFake("local", map[string]map[string]string{})
	e.addVolume("pg", map[string]string{"db": "v0"})
	e.addContainer("shop", true, nil, "pg")
	e.images["app:2"] = true
	e.warnings = true
	var kinds []string
	lines := func(line []byte) {
		m, err := messages.Decode(line)
		if err != nil || m.Type != messages.MsgWarning {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds = append(kinds, m.Warning.Kind)
	}
	if _, err := Upgrade(ctx, e, sc, &fakeReporter{}, UpgradeOptions{Container: "shop", Image: "app:2", Lines: lines}); err != nil {
		t.Fatal(err)
	}
	// Two rounds: the live one shows only "permission denied", the last both.
	if want := []string{"", messages.WarnChangedWhileRead, ""}; !slices.Equal(kinds, want) {
		t.Fatalf("warnings shown: %q, want %q", kinds, want)
	}
}

// The option rules of a migration, in the one place they are written:
// each combination that does not go together is refused before anything
// is touched.
func TestMigrateOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    MigrateOptions
		want string // "" for valid
	}{
		{MigrateOptions{Names: []string{"v"}}, ""},
		{MigrateOptions{Live: true, MaxRounds: MaxMaxRounds}, ""},
		{MigrateOptions{Live: true, MaxRounds: 1}, ""},
		{MigrateOptions{Live: true}, "--max-rounds needs --live"},
		{MigrateOptions{Container: "db", Start: true, WaitHealthy: time.Minute}, ""},
		{MigrateOptions{Container: "db", Start: true, WaitHealthy: time.Minute, Settle: 0}, ""},
		{MigrateOptions{MaxRounds: 3}, "--max-rounds needs --live"},
		{MigrateOptions{Live: true, MaxRounds: MaxMaxRounds + 1}, "--max-rounds needs --live"},
		{MigrateOptions{Live: true, MaxRounds: -1}, "--max-rounds needs --live"},
		{MigrateOptions{Start: true, WaitHealthy: time.Minute}, "--start needs --container"},
		{MigrateOptions{WaitHealthy: time.Minute}, "go with --start"},
		{MigrateOptions{Settle: time.Second}, "go with --start"},
		{MigrateOptions{Container: "db", Start: true}, "must be positive"},
		{MigrateOptions{Container: "db", Start: true, WaitHealthy: -time.Minute}, "must be positive"},
		{MigrateOptions{Container: "db", Start: true, WaitHealthy: time.Minute, Settle: -time.Second}, "must be positive"},
	} {
		err := tc.o.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}

// A container labelled lifeboat.pre-stop has its hook run while it still
// runs, before the last round copied while it runs (live migration, live
// direct migration, upgrade), so that what the hook makes it write
// travels before the stop; the stop runs the hook again. Without the
// label there is no extra round.
func TestPreStopHookBeforeTheLastLiveRound(t *testing.T) {
	ctx := context.Background()
	r := &fakeReporter{}
	preStop := map[string]string{sidecar.LabelPreStop: "psql -c CHECKPOINT"}
	for _, tc := range []struct {
		name string
		o    MigrateOptions
		// the source's log from the first round on
		want []string
	}{
		{"live", MigrateOptions{StopSource: true, Live: true, MaxRounds: 1},
			[]string{"snapshot pg", "pre-stop db", "snapshot pg", "pre-stop db", "stop db", "snapshot pg"}},
		{"live direct", MigrateOptions{StopSource: true, Live: true, Direct: true, MaxRounds: 1},
			[]string{"send pg", "pre-stop db", "send pg", "pre-stop db", "stop db", "send pg (after the go-ahead)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := map[string]map[string]string{}
			src, dst := newFake("unix:///src", store), newFake("unix:///dst", store)
			src.addVolume("pg", map[string]string{"db": "pages"})
			src.addContainer("db", true, preStop, "pg")
			checkpoints := 0
			var hooked time.Time // when the last hook ended
			src.onPreStop = func(f *fakeEngine) {
				checkpoints++
				f.volumes["pg"].files["db"] = fmt.Sprintf("pages, checkpoint %d", checkpoints)
				hooked = time.Now()
			}
			var atStop string // what the destination held when the stop came
			src.onStop = func(*fakeEngine) {
				dst.mu.Lock()
				atStop = dst.volumes["pg"].files["db"]
				dst.mu.Unlock()
			}
			tc.o.Names = []string{"pg"}
			m, err := Migrate(ctx, src, dst, sc, r, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := src.did(""); !slices.Equal(got[1:], tc.want) {
				t.Fatalf("source log %q, want %q after the image", got, tc.want)
			}
			if atStop != "pages, checkpoint 1" || dst.volumes["pg"].files["db"] != "pages, checkpoint 2" || len(m.Rounds) != 3 {
				t.Fatalf("the destination held %q at the stop and %q after, in %d rounds", atStop, dst.volumes["pg"].files["db"], len(m.Rounds))
			}
			// The application ran during the hook: the downtime starts after it.
			if m.stoppedAt.Before(hooked) || m.Downtime <= 0 {
				t.Fatalf("the downtime started %v before the hook at the stop ended", hooked.Sub(m.stoppedAt))
			}
		})
	}

	t.Run("upgrade", func(t *testing.T) {
		e := newFake("local", map[string]map[string]string{})
		e.addVolume("pg", map[string]string{"db": "pages"})
		e.addContainer("shop", true, preStop, "pg")
		e.images["app:2"] = true
		if _, err := Upgrade(ctx, e, sc, r, UpgradeOptions{Container: "shop", Image: "app:2"}); err != nil {
			t.Fatal(err)
		}
		if got := e.did("snapshot"); len(got) != 3 {
			t.Fatalf("snapshots %q, want two while it runs (the second after the hook) and the last", got)
		}
		if got := e.did("pre-stop"); len(got) != 2 {
			t.Fatalf("pre-stop hooks %q, want one before the last live round and one at the stop", got)
		}
	})

	t.Run("no label", func(t *testing.T) {
		store := map[string]map[string]string{}
		src, dst := newFake("unix:///src", store), newFake("unix:///dst", store)
		src.addVolume("pg", map[string]string{"db": "pages"})
		src.addContainer("db", true, nil, "pg")
		m, err := Migrate(ctx, src, dst, sc, r, MigrateOptions{Names: []string{"pg"}, StopSource: true, Live: true, MaxRounds: 1})
		if err != nil || len(m.Rounds) != 2 || len(src.did("pre-stop")) != 0 {
			t.Fatalf("%v: %d rounds, hooks %q", err, len(m.Rounds), src.did("pre-stop"))
		}
	})
}

// Inventory lists every volume with its running users, how their labels
// make a copy consistent, and the jobs whose selection holds it.
func TestInventory(t *testing.T) {
	e := newFake("h", nil)
	for _, n := range []string{"db", "cache", "logs"} {
		e.addVolume(n, map[string]string{"f": "x"})
	}
	e.volumes["cache"].labels["backup"] = "yes"
	e.addContainer("pg", true, map[string]string{sidecar.LabelStop: "true", sidecar.LabelPre: "sync"}, "db")
	e.addContainer("redis", true, nil, "cache")
	e.addContainer("old", false, map[string]string{sidecar.LabelPause: "true"}, "logs")
	got, err := Inventory(context.Background(), e, map[string]Selection{
		"nightly": {Labels: []string{"backup=yes"}}, "db": {Names: []string{"db"}}, "all": {All: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := []VolumeState{
		{Name: "cache", Driver: "local", Labels: map[string]string{"backup": "yes"}, Users: []UserState{{Name: "redis"}}, Jobs: []string{"all", "nightly"}},
		{Name: "db", Driver: "local", Labels: map[string]string{}, Users: []UserState{{Name: "pg", Consistency: "stopped, pre hook"}}, Jobs: []string{"all", "db"}},
		{Name: "logs", Driver: "local", Labels: map[string]string{}, Users: []UserState{}, Jobs: []string{"all"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("inventory:\n got %+v\nwant %+v", got, want)
	}
	got, _ = Inventory(context.Background(), e, nil)
	if len(got) != 3 || len(got[0].Jobs) != 0 || got[0].Jobs == nil {
		t.Fatalf("without jobs: %+v", got)
	}
}
