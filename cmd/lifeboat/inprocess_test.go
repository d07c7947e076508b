package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
)

// inProcess runs lifeboat's commands in this process, with an app of its
// own: the commands that need no Docker are tested without the binary.
type inProcess struct {
	t   *testing.T
	env map[string]string
}

func (p *inProcess) Run(args ...string) (int, string, string) {
	p.t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, version: "test",
		getenv: func(k string) string { return p.env[k] },
		environ: func() []string {
			var kv []string
			for k, v := range p.env {
				kv = append(kv, k+"="+v)
			}
			return kv
		}}
	code := run(context.Background(), a, args)
	return code, out.String(), errOut.String()
}

func (p *inProcess) OK(args ...string) string {
	p.t.Helper()
	code, out, errOut := p.Run(args...)
	if code != 0 {
		p.t.Fatalf("lifeboat %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestCommandsInProcess(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	p := &inProcess{t: t, env: map[string]string{"LIFEBOAT_REPOSITORY": repo, "LIFEBOAT_PASSWORD": "in process"}}
	p.OK("init")
	src := clitest.WriteTree(t, map[string][]byte{"a": []byte("first"), "d/b": []byte("second")})
	if out := p.OK("backup", "--path", src); !strings.Contains(out, "snapshot") || !strings.Contains(out, "saved") {
		t.Fatalf("backup output:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(src, "a"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.OK("backup", "--path", src)
	if out := p.OK("snapshots"); !strings.Contains(out, "\n2 snapshots\n") {
		t.Fatalf("snapshots:\n%s", out)
	}
	dst := t.TempDir()
	p.OK("restore", "latest", "--target", dst, "--verify")
	if b, err := os.ReadFile(filepath.Join(dst, "a")); err != nil || string(b) != "changed" {
		t.Fatalf("restored a: %q %v", b, err)
	}
	if code, _, errOut := p.Run("restore", "latest", "--target", dst); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into a full target: exit %d, %q", code, errOut)
	}
	for _, args := range [][]string{{"--delete"}, {"--delete", "--overwrite", "never"}, {"--delete", "--overwrite", "always", "--include", "/a"}} {
		// Refused before the repository is opened: nothing else is said.
		if code, out, errOut := p.Run(append([]string{"restore", "latest", "--target", dst}, args...)...); code != exitUsage || !strings.Contains(errOut, "--delete") || out != "" {
			t.Fatalf("restore %v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	if code, _, _ := p.Run("forget", "--keep-last", "-1"); code != exitUsage {
		t.Fatalf("a negative keep: exit %d", code)
	}
	p.OK("forget", "--keep-last", "1")
	p.OK("prune")
	p.OK("check", "--read-data")
	if out := p.OK("snapshots", "--json"); strings.Count(out, `"short_id"`) != 1 {
		t.Fatalf("snapshots after forget and prune:\n%s", out)
	}
	wrong := &inProcess{t: t, env: map[string]string{"LIFEBOAT_REPOSITORY": repo, "LIFEBOAT_PASSWORD": "wrong"}}
	if code, _, _ := wrong.Run("snapshots"); code != exitWrongPass {
		t.Fatalf("a wrong password: exit %d", code)
	}
}
