package worker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// host records what a Worker asked of its process.
type host struct {
	opened   int
	backedUp []string
	emitted  []string
	diverted bool
	fail     map[string]error // path -> BackupPath's error
	partial  map[string]bool  // path -> an incomplete snapshot
}

func (h *host) OpenRepository(context.Context) (*repository.Repository, func(), error) {
	h.opened++
	return nil, func() {}, nil
}

func (h *host) BackupPath(_ context.Context, _ *repository.Repository, path, hostName string, tags []string, vol *repository.VolumeInfo) (*repository.Snapshot, error) {
	h.backedUp = append(h.backedUp, fmt.Sprintf("%s %s %s %v", path, vol.Name, hostName, tags))
	if err := h.fail[path]; err != nil {
		return nil, err
	}
	return &repository.Snapshot{Incomplete: h.partial[path]}, nil
}

func (h *host) Emit(typ string, v any) {
	var b bytes.Buffer
	_ = messages.Encode(&b, typ, v)
	h.emitted = append(h.emitted, strings.TrimSpace(b.String()))
}

func (h *host) Divert() { h.diverted = true }

// started is a Worker started as the CLI starts a batch sidecar: its
// Input line with a plan of the volumes a, b and c, then answers.
func started(t *testing.T, h *host, answers ...bool) *Worker {
	t.Helper()
	var in bytes.Buffer
	plan := &protocol.Plan{Host: "h1", Tags: []string{"nightly"}}
	for _, n := range []string{"a", "b", "c"} {
		plan.Volumes = append(plan.Volumes, protocol.PlanVolume{Path: "/volumes/" + n, Info: repository.VolumeInfo{Name: n}})
	}
	if err := protocol.WriteInput(&in, protocol.Input{Password: []byte("pw"), Plan: plan}); err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		if err := protocol.WriteAnswer(&in, a); err != nil {
			t.Fatal(err)
		}
	}
	w := New(h, bufio.NewReader(&in), &bytes.Buffer{}, &bytes.Buffer{})
	w.readInput = true
	if pw, ok, err := w.ReadInput(); err != nil || !ok || pw != "pw" {
		t.Fatalf("input: %q %v %v", pw, ok, err)
	}
	return w
}

// A batch backs up each volume the CLI says go for, skips the others, and
// announces every one before it waits for the answer.
func TestBatchFollowsTheAnswers(t *testing.T) {
	h := &host{}
	if err := started(t, h, true, false, true).Batch(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"/volumes/a a h1 [nightly]", "/volumes/c c h1 [nightly]"}
	if strings.Join(h.backedUp, "|") != strings.Join(want, "|") {
		t.Errorf("backed up %q, want %q", h.backedUp, want)
	}
	if len(h.emitted) != 3 || !strings.Contains(h.emitted[1], `"volume_ready","volume":"b"`) || h.opened != 1 {
		t.Errorf("emitted %q, opened %d times", h.emitted, h.opened)
	}
}

// A failed volume is reported and the batch goes on; an incomplete one
// makes the batch's error snapshot.ErrIncomplete; a locked repository ends
// it at once; an input that ends before an answer fails it.
func TestBatchFailures(t *testing.T) {
	h := &host{fail: map[string]error{"/volumes/a": errors.New("disk on fire")}, partial: map[string]bool{"/volumes/c": true}}
	err := started(t, h, true, true, true).Batch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "1 volumes failed") || len(h.backedUp) != 3 {
		t.Fatalf("batch: %v after %q", err, h.backedUp)
	}
	if !strings.Contains(strings.Join(h.emitted, "\n"), `{"type":"volume_error","volume":"a","message":"disk on fire"}`) {
		t.Errorf("no volume_error for a: %q", h.emitted)
	}

	h = &host{partial: map[string]bool{"/volumes/b": true}}
	if err := started(t, h, true, true, true).Batch(context.Background()); !errors.Is(err, snapshot.ErrIncomplete) {
		t.Errorf("an incomplete volume: %v, want ErrIncomplete", err)
	}

	h = &host{fail: map[string]error{"/volumes/a": fmt.Errorf("lock: %w", repository.ErrLocked)}}
	if err := started(t, h, true, true, true).Batch(context.Background()); !errors.Is(err, repository.ErrLocked) || len(h.backedUp) != 1 {
		t.Errorf("locked: %v after %q", err, h.backedUp)
	}

	h = &host{}
	if err := started(t, h, true).Batch(context.Background()); err == nil || !strings.Contains(err.Error(), "volume b") || len(h.backedUp) != 1 {
		t.Errorf("answers ran out: %v after %q", err, h.backedUp)
	}
}

// Without the input flag nothing is read, and a batch refuses to run.
func TestNoInputNoBatch(t *testing.T) {
	h := &host{}
	w := New(h, bufio.NewReader(strings.NewReader(`{"password":"cHc="}`+"\n")), &bytes.Buffer{}, &bytes.Buffer{})
	if _, ok, err := w.ReadInput(); ok || err != nil {
		t.Fatalf("read an input it was not told to: %v %v", ok, err)
	}
	if err := w.Batch(context.Background()); err == nil || h.opened != 0 {
		t.Fatalf("a batch without a plan: %v, opened %d", err, h.opened)
	}
}

// Receive refuses a target that holds anything unless told to overwrite
// it, before it reads the stream, and keeps stdout for the stream.
func TestReceiveRefusesATargetInUse(t *testing.T) {
	target := t.TempDir()
	if err := os.WriteFile(filepath.Join(target, "kept"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &host{}
	w := New(h, bufio.NewReader(strings.NewReader("")), &bytes.Buffer{}, &bytes.Buffer{})
	err := w.Receive(context.Background(), target, false)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !h.diverted {
		t.Fatalf("receive into a full target: %v (diverted %v)", err, h.diverted)
	}
	if b, err := os.ReadFile(filepath.Join(target, "kept")); err != nil || string(b) != "x" {
		t.Fatalf("the target's file: %q %v", b, err)
	}
}

// The worker's commands are the protocol's, hidden.
func TestCommandsAreHidden(t *testing.T) {
	names := map[string]bool{}
	for _, c := range New(&host{}, nil, nil, nil).Commands() {
		names[c.Name()] = c.Hidden
	}
	for _, n := range []string{protocol.CmdBatch, protocol.CmdSend, protocol.CmdReceive} {
		if hidden, ok := names[n]; !ok || !hidden {
			t.Errorf("%s: registered %v, hidden %v", n, ok, hidden)
		}
	}
}
