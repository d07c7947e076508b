package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/targettest"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/local"
)

func TestConformance(t *testing.T) {
	targettest.Run(t, func(t *testing.T) targets.Target {
		tg, err := local.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return tg
	})
}

// A temporary file left by a writer killed mid-Put is never listed.
func TestTempFilesHidden(t *testing.T) {
	dir := t.TempDir()
	tg, _ := local.New(dir)
	ctx := context.Background()
	if err := tg.Put(ctx, "data/aa/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data/aa/.tmp-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := tg.List(ctx, "data/", func(fi targets.Info) error { names = append(names, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "data/aa/x" {
		t.Fatalf("listed %v", names)
	}
}

func TestRejectsEscapingNames(t *testing.T) {
	tg, _ := local.New(t.TempDir())
	for _, name := range []string{"../x", "a/../../x", "/etc/passwd", "a//b", ""} {
		if err := tg.Put(context.Background(), name, nil); err == nil {
			t.Errorf("put %q accepted", name)
		}
	}
}
