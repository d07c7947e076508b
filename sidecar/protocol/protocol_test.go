package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// What the CLI writes to a sidecar's standard input reads back in order:
// the Input line, then the answers or the order, then the rest untouched.
func TestInputDirection(t *testing.T) {
	var b bytes.Buffer
	in := Input{Password: []byte("pw"), Plan: &Plan{Host: "h", Volumes: []PlanVolume{{Path: "/volumes/v"}}}}
	if err := WriteInput(&b, in); err != nil {
		t.Fatal(err)
	}
	for _, proceed := range []bool{true, false, true} {
		if err := WriteAnswer(&b, proceed); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&b)
	got, err := ReadInput(r)
	if err != nil || string(got.Password) != "pw" || got.Plan == nil || got.Plan.Volumes[0].Path != "/volumes/v" {
		t.Fatalf("input: %v %+v", err, got)
	}
	lines := bufio.NewScanner(r)
	var answers []bool
	for {
		proceed, err := ReadAnswer(lines)
		if err != nil {
			if !strings.Contains(err.Error(), "no answer") {
				t.Fatalf("after %d answers: %v", len(answers), err)
			}
			break
		}
		answers = append(answers, proceed)
	}
	if len(answers) != 3 || !answers[0] || answers[1] || !answers[2] {
		t.Fatalf("answers %v, want [true false true]", answers)
	}
	if _, err := ReadAnswer(bufio.NewScanner(strings.NewReader("yes\n"))); err == nil {
		t.Fatal("an answer that is neither go nor skip was taken")
	}
	if _, err := ReadInput(bufio.NewReader(strings.NewReader(`{"password":""}` + "\n"))); err == nil {
		t.Fatal("an input without a password was taken")
	}
}

func TestRestoreOrder(t *testing.T) {
	var b bytes.Buffer
	if err := WriteOrder(&b, RestoreOrder{Snapshot: "1f2e3d4c", Base: "9a8b7c6d"}); err != nil {
		t.Fatal(err)
	}
	b.WriteString("what follows\n")
	r := bufio.NewReader(&b)
	o, err := ReadOrder(r)
	if err != nil || o != (RestoreOrder{Snapshot: "1f2e3d4c", Base: "9a8b7c6d"}) {
		t.Fatalf("order: %v %+v", err, o)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "what follows\n" {
		t.Fatalf("after the order: %q", rest)
	}
	for input, want := range map[string]error{"": ErrNoOrder, "\n": ErrNoOrder, `{"base":"x"}` + "\n": nil, "not json\n": nil} {
		_, err := ReadOrder(bufio.NewReader(strings.NewReader(input)))
		if err == nil || (want != nil && !errors.Is(err, want)) {
			t.Errorf("order %q: %v, want %v", input, err, want)
		}
	}
}
