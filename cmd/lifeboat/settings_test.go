package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The configuration is plain data; each value is checked by the layer that
// uses it, once it is loaded, so a wrong value fails every command with
// exit 2 wherever it was given (flag, environment or file).
func TestSettingsCheckedByTheirLayer(t *testing.T) {
	dir := t.TempDir()
	config := func(text string) string {
		f, err := os.CreateTemp(dir, "*.yml")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return f.Name()
	}
	job := "daemon:\n  jobs:\n    - name: nightly\n      schedule: '@daily'\n"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"compression flag", []string{"--compression", "zstd"}, nil, []string{"off, fast, default or max"}},
		{"compression env", nil, map[string]string{"LIFEBOAT_COMPRESSION": "maximum"}, []string{"off, fast, default or max"}},
		{"compression file", []string{"--config", config("compression: best\n")}, nil, []string{"off, fast, default or max"}},
		{"negative last", []string{"--config", config(job + "      paths: [/x]\n      keep:\n        last: -1\n")}, nil, []string{`daemon job "nightly"`, "must be 0 or more"}},
		{"negative daily", []string{"--config", config(job + "      paths: [/x]\n      keep:\n        daily: -5\n")}, nil, []string{`daemon job "nightly"`, "must be 0 or more"}},
		{"negative within", []string{"--config", config(job + "      paths: [/x]\n      keep:\n        within: -48h\n")}, nil, []string{`daemon job "nightly"`, "must be 0 or more"}},
		{"volume name", []string{"--config", config(job + "      volumes: [\"bad name!\"]\n")}, nil, []string{`daemon job "nightly"`, "invalid volume name"}},
		{"check share", []string{"--config", config(job + "      paths: [/x]\n      check: '@weekly'\n      check-read-data: 150%\n")}, nil, []string{`daemon job "nightly"`, "check-read-data", "percentage"}},
		{"check share NaN", []string{"--config", config("daemon:\n  jobs:\n    - name: weekly\n      check: '@weekly'\n      check-read-data: nan\n")}, nil, []string{`daemon job "weekly"`, "check-read-data"}},
		{"check share without check", []string{"--config", config(job + "      paths: [/x]\n      check-read-data: 5%\n")}, nil, []string{`daemon job "nightly"`, "no check: schedule"}},
		{"empty tag", []string{"--config", config(job + "      paths: [/x]\n      tags: [\"\"]\n")}, nil, []string{`daemon job "nightly"`, "tag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &inProcess{t: t, env: tc.env}
			code, out, errOut := p.Run(append([]string{"snapshots"}, tc.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("the error does not say %q:\n%s", w, errOut)
				}
			}
		})
	}
	// And a right one passes the check (it then needs a repository).
	p := &inProcess{t: t, env: map[string]string{"LIFEBOAT_REPOSITORY": filepath.Join(dir, "none")}}
	if code, _, errOut := p.Run("snapshots", "--compression", "max", "--config", config(job+"      paths: [/x]\n      keep:\n        last: 3\n      check: '@weekly'\n      check-read-data: 1/20\n")); code == 2 {
		t.Fatalf("valid settings refused: %s", errOut)
	}
}
