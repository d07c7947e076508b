package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func flags(args ...string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("repo", "", "")
	fs.String("password-file", "", "")
	fs.String("host", "", "")
	fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		panic(err)
	}
	return fs
}

func TestExampleFileLoads(t *testing.T) {
	c, err := Load("lifeboat.example.yml", flags(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Repository != "/srv/backups" || c.PasswordFile != "/etc/lifeboat/password" {
		t.Fatalf("loaded %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yml")
	if err := os.WriteFile(file, []byte("repo: /from/file\nhost: filehost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LIFEBOAT_REPOSITORY", "/from/env")
	c, err := Load(file, flags(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Repository != "/from/env" || c.Host != "filehost" {
		t.Fatalf("env should beat file: %+v", c)
	}
	c, err = Load(file, flags("--repo", "/from/flag"), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Repository != "/from/flag" {
		t.Fatalf("flag should beat env: %+v", c)
	}
	t.Setenv("LIFEBOAT_PASSWORD", "pw")
	c, _ = Load(file, flags(), os.Getenv)
	if c.Password != "pw" {
		t.Fatal("password not taken from the environment")
	}
}

func TestMissingRepository(t *testing.T) {
	c, err := Load("", flags(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RequireRepository(); !errors.Is(err, ErrNoRepository) {
		t.Fatalf("got %v", err)
	}
	if _, err := Load("/nonexistent.yml", flags(), env(nil)); err == nil {
		t.Fatal("missing explicit config file accepted")
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "lifeboat.yml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// A misspelled key is refused with its line, its place and the closest
// known key, at the top level and inside daemon jobs.
func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		text, want string
	}{
		{"repo: /r\nhots: web1\n", `:2: unknown key "hots" at the top level (did you mean "host"?)`},
		{"pasword-file: /pw\n", `:1: unknown key "pasword-file" at the top level (did you mean "password-file"?)`},
		{"password: secret\n", `unknown key "password" at the top level (did you mean "password-file"?)`},
		{"daemon:\n  jobs:\n    - name: a\n      schedule: '@daily'\n      paths: [/x]\n      kep:\n        last: 3\n",
			`:6: unknown key "kep" in daemon.jobs[0] (did you mean "keep"?)`},
		{"daemon:\n  jobs:\n    - name: a\n      schedule: '@daily'\n      paths: [/x]\n      keep:\n        lats: 3\n",
			`:7: unknown key "lats" in daemon.jobs[0].keep (did you mean "last"?)`},
		{"daemon:\n  listen: ':9123'\n  completely-different: 1\n", `unknown key "completely-different" in daemon`},
	} {
		_, err := Load(writeConfig(t, tc.text), flags(), env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.text, err, tc.want)
		}
	}
	// Maps take any keys: headers and the like.
	ok := "daemon:\n  notify:\n    url: http://127.0.0.1:1/\n    headers:\n      X-Anything: y\n"
	if _, err := Load(writeConfig(t, ok), flags(), env(nil)); err != nil {
		t.Fatalf("headers refused: %v", err)
	}
}

// The password follows the one order: flag, then environment, then file.
func TestPasswordPrecedence(t *testing.T) {
	file := writeConfig(t, "password-file: /from/file\n")
	for _, tc := range []struct {
		name       string
		args       []string
		env        map[string]string
		pw, pwFile string
		fails      bool
	}{
		{"file only", nil, nil, "", "/from/file", false},
		{"env password beats the file", nil, map[string]string{"LIFEBOAT_PASSWORD": "envpw"}, "envpw", "", false},
		{"env file beats the file", nil, map[string]string{"LIFEBOAT_PASSWORD_FILE": "/from/env"}, "", "/from/env", false},
		{"flag beats env password", []string{"--password-file", "/from/flag"}, map[string]string{"LIFEBOAT_PASSWORD": "envpw"}, "", "/from/flag", false},
		{"both env settings", nil, map[string]string{"LIFEBOAT_PASSWORD": "a", "LIFEBOAT_PASSWORD_FILE": "/b"}, "", "", true},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		c, err := Load(file, flags(tc.args...), os.Getenv)
		switch {
		case tc.fails && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case !tc.fails && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.fails && (c.Password != tc.pw || c.PasswordFile != tc.pwFile):
			t.Errorf("%s: password %q, file %q; want %q, %q", tc.name, c.Password, c.PasswordFile, tc.pw, tc.pwFile)
		}
		for k := range tc.env {
			os.Unsetenv(k)
		}
	}
}

// The compression setting comes from the file, the environment or a flag,
// in that rising order (what it means, repository.ParseCompression says;
// cmd/lifeboat's TestSettingsCheckedByTheirLayer refuses a wrong one).
func TestCompressionSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(file, []byte("compression: max\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withFlag := func(args ...string) *pflag.FlagSet {
		fs := flags()
		fs.String("compression", "", "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	for _, c := range []struct {
		env  string
		args []string
		want string
	}{
		{"", nil, "max"},
		{"off", nil, "off"},
		{"off", []string{"--compression", "fast"}, "fast"},
	} {
		cfg, err := Load(file, withFlag(c.args...), env(map[string]string{"LIFEBOAT_COMPRESSION": c.env}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Compression != c.want {
			t.Errorf("env %q, flags %v: %q, want %q", c.env, c.args, cfg.Compression, c.want)
		}
	}
	if cfg, err := Load("", withFlag(), env(nil)); err != nil || cfg.Compression != "" {
		t.Fatalf("nothing set: %v, %v", cfg, err)
	}
}

// A value of the wrong type, a YAML syntax error and a config path that is
// a directory each name the file and, where there is one, the line, and
// say what was expected; a value from the environment names no line.
func TestConfigErrorsNameFileAndLine(t *testing.T) {
	job := "daemon:\n  jobs:\n    - name: a\n      schedule: '@daily'\n      paths: [/x]\n      keep:\n        "
	for _, tc := range []struct {
		text, want string
	}{
		{job + "last: three\n", `:7: daemon.jobs[0].keep.last: "three" is not a whole number`},
		{job + "within: 2d\n", `:7: daemon.jobs[0].keep.within: "2d" is not a duration: give a number with a unit of h, m or s, as 36h or 90m (days are hours here: 48h for 2 days)`},
		{"repo: /r\ndaemon:\n  jobs:\n  - name: a\n     schedule: x\n", `:5: mapping values are not allowed in this context`},
		{"repo: /r\nconnections: many\n", `:2: connections: "many" is not a whole number`},
	} {
		file := writeConfig(t, tc.text)
		_, err := Load(file, flags(), env(nil))
		if err == nil || !strings.Contains(err.Error(), "config file "+file+tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err = %v, want %q", tc.text, err, "config file "+file+tc.want)
		}
	}
	dir := t.TempDir()
	if _, err := Load(dir, flags(), env(nil)); err == nil || !strings.Contains(err.Error(), dir+" is a directory") {
		t.Errorf("a directory: %v", err)
	}
	file := writeConfig(t, "repo: /r\n")
	_, err := Load(file, flags(), env(map[string]string{"LIFEBOAT_CONNECTIONS": "many"}))
	if err == nil || !strings.HasSuffix(err.Error(), file+`: connections: "many" is not a whole number`) {
		t.Errorf("from the environment: %v", err)
	}
}
