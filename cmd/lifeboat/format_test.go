package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets/local"
)

// A repository made before pieces, the compression setting and the gear
// chunker existed (testdata/README.md) stays readable and checkable, and a
// backup into it keeps its layout (whole chunks, cut by Rabin), so that it
// deduplicates against what the old version stored, whatever
// --compression says.
func TestFormat1RepositoryStaysUsable(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	if err := os.CopyFS(repo, os.DirFS("testdata/format1-repo")); err != nil {
		t.Fatal(err)
	}
	p := &inProcess{t: t, env: map[string]string{"LIFEBOAT_REPOSITORY": repo, "LIFEBOAT_PASSWORD": "format-1"}}
	dst := filepath.Join(t.TempDir(), "restored")
	p.OK("restore", "latest", "--target", dst, "--verify")
	want := map[string]string{
		"hello.txt":    "98ae1b047244fc342bfb8e2777a460c2702268fcce20924dee0664bee3fb0276",
		"sub/notes.md": "895ba3ea5a6b513d2393a6417b38aff28434ddd2691c6ace0523362a335017d6",
		"sub/pages.db": "b20c64890ab1bf0ca6ccc1130ca9bfa0d23c86749d2d7b0b9a2fc6a7d4606773",
	}
	for rel, sum := range want {
		b, err := os.ReadFile(filepath.Join(dst, rel))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Fatalf("%s restored with sha256 %x, want %s", rel, got, sum)
		}
	}
	p.OK("check", "--read-data")

	// The second run reads every file again (--force) rather than taking
	// them from its parent.
	for _, comp := range []string{"max", "off"} {
		out := p.OK("backup", "--json", "--force", "--compression", comp, "--path", dst)
		var summary struct {
			Type    string `json:"type"`
			Summary struct {
				BytesRead  int64 `json:"bytes_read"`
				BlobsAdded int64 `json:"blobs_added"`
			} `json:"summary"`
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil || summary.Type != "summary" {
			t.Fatalf("backup --json ended with %q: %v", lines[len(lines)-1], err)
		}
		// The restored files are new paths with the old content: only the
		// trees are new, every data blob is found.
		if summary.Summary.BytesRead != 616131 || summary.Summary.BlobsAdded > 3 {
			t.Fatalf("--compression %s: %d bytes read, %d blobs added (trees only: at most 3)", comp, summary.Summary.BytesRead, summary.Summary.BlobsAdded)
		}
	}
	p.OK("check", "--read-data")

	// The layout: pages.db is whole chunks in every snapshot.
	ctx := context.Background()
	tg, err := local.New(repo)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repository.Open(ctx, tg, []byte("format-1"), repository.Options{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Config().PieceSize != 0 || r.Config().Chunker != "" || r.Config().Version != 1 {
		t.Fatalf("config now %+v", r.Config())
	}
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	sns, err := r.Snapshots(ctx)
	if err != nil || len(sns) != 3 {
		t.Fatalf("%d snapshots: %v", len(sns), err)
	}
	for _, sn := range sns {
		n, err := r.FindNode(ctx, sn, "sub/pages.db")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range n.Content {
			loc, ok := r.Index().Lookup(pack.DataBlob, id)
			if !ok || loc.Entry.PlainLength() <= repository.DefaultPieceSize {
				t.Fatalf("snapshot %s: pages.db blob %s of %d bytes: not a whole chunk", sn.ID.Short(), id.Short(), loc.Entry.PlainLength())
			}
		}
	}
}
