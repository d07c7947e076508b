package configs

import (
	"errors"
	"os"
	"path/filepath"
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
