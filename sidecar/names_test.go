package sidecar

import (
	"errors"
	"testing"
)

// Names, label selectors, selections and engine addresses: each accepted
// or refused exactly as meant, every refusal an ErrSyntax.
func TestSyntaxChecks(t *testing.T) {
	cases := []struct {
		what string
		err  error
		ok   bool
	}{
		{"volume pgdata", ValidateVolumeName("pgdata"), true},
		{"volume shop_db-1.2", ValidateVolumeName("shop_db-1.2"), true},
		{"volume x", ValidateVolumeName("x"), true},
		{"volume ../etc", ValidateVolumeName("../etc"), false},
		{"volume /etc", ValidateVolumeName("/etc"), false},
		{"volume with space", ValidateVolumeName("pg data"), false},
		{"volume empty", ValidateVolumeName(""), false},
		{"volume .hidden", ValidateVolumeName(".hidden"), false},
		{"label key", ValidateLabelSelector("app"), true},
		{"label key=value", ValidateLabelSelector("com.example.backup=nightly"), true},
		{"label key=", ValidateLabelSelector("app="), true},
		{"label value with =", ValidateLabelSelector("a=b=c"), true},
		{"label value with space", ValidateLabelSelector("a=b c"), true},
		{"label =foo", ValidateLabelSelector("=foo"), false},
		{"label empty", ValidateLabelSelector(""), false},
		{"label a b", ValidateLabelSelector("a b"), false},
		{"label tab", ValidateLabelSelector("a\tb=c"), false},
		{"label value newline", ValidateLabelSelector("a=b\nc"), false},
		{"--all alone", Selection{All: true}.Validate(), true},
		{"names and labels", Selection{Names: []string{"a1"}, Labels: []string{"x=y"}, Dangling: true}.Validate(), true},
		{"--all --dangling", Selection{All: true, Dangling: true}.Validate(), false},
		{"--all NAME", Selection{All: true, Names: []string{"a1"}}.Validate(), false},
		{"--all --label", Selection{All: true, Labels: []string{"x"}}.Validate(), false},
		{"--all --container", Selection{All: true, Container: "c"}.Validate(), false},
		{"bad name in selection", Selection{Names: []string{"ok", "../etc"}}.Validate(), false},
		{"bad label in selection", Selection{Labels: []string{"=x"}}.Validate(), false},
		{"unix://", ValidateEngineAddress("unix:///var/run/docker.sock"), true},
		{"tcp://", ValidateEngineAddress("tcp://127.0.0.1:2375"), true},
		{"ssh://", ValidateEngineAddress("ssh://user@host"), true},
		{"ftp://", ValidateEngineAddress("ftp://x"), false},
		{"no scheme", ValidateEngineAddress("host:2375"), false},
		{"just a name", ValidateEngineAddress("engine2"), false},
	}
	for _, c := range cases {
		switch {
		case c.ok && c.err != nil:
			t.Errorf("%s: refused: %v", c.what, c.err)
		case !c.ok && !errors.Is(c.err, ErrSyntax):
			t.Errorf("%s: got %v, want an ErrSyntax", c.what, c.err)
		}
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases ran", len(cases))
	}
}

func TestKilledBy(t *testing.T) {
	for code, want := range map[int]int{137: 9, 143: 15, 130: 2, 0: 0, 1: 0, 3: 0, 11: 0, 128: 0, 160: 0, -1: 0} {
		sig, ok := KilledBy(code)
		if sig != want || ok != (want != 0) {
			t.Errorf("exit code %d: signal %d %v, want %d", code, sig, ok, want)
		}
	}
}
