package snapshot_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets/local"
)

// The default compression stores file data, the chunks of a large file and
// a whole small file alike, as fast does (zstd level 1; trees differ, see
// the repository's TestCompressionSettings). Both repositories share one
// config (a copy), so they cut alike.
func TestDefaultCompressionLevels(t *testing.T) {
	ctx := context.Background()
	var text bytes.Buffer
	for i := 0; text.Len() < 20<<20; i++ {
		fmt.Fprintf(&text, "2026-11-29T10:%02d:%02dZ GET /api/v1/orders/%d took %d ms cache=%v\n", i/60%60, i%60, i*7919%100000, i*31%900, i%3 == 0)
	}
	src := t.TempDir()
	write(t, src, "app.log", text.Bytes()[:20<<20+5])
	write(t, src, "config.txt", text.Bytes()[:100<<10])

	dirA := t.TempDir()
	tgA, err := local.New(dirA)
	if err != nil {
		t.Fatal(err)
	}
	kdf := func() (crypto.KDFParams, error) { return crypto.NewKDF(1, 64, 1) }
	a, err := repository.Init(ctx, tgA, []byte("pw"), repository.Options{KDF: kdf})
	if err != nil {
		t.Fatal(err)
	}
	dirB := filepath.Join(t.TempDir(), "b")
	if err := os.CopyFS(dirB, os.DirFS(dirA)); err != nil {
		t.Fatal(err)
	}
	tgB, err := local.New(dirB)
	if err != nil {
		t.Fatal(err)
	}
	b, err := repository.Open(ctx, tgB, []byte("pw"), repository.Options{Compression: repository.CompressionFast})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string][2]int64{} // file: default, fast
	for k, r := range []*repository.Repository{a, b} {
		defer r.Close()
		lock, err := r.LockAndLoad(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = lock.Unlock(ctx) }()
		sn := run(t, r, snapshot.Options{}, src)
		for _, name := range []string{"app.log", "config.txt"} {
			n, err := r.FindNode(ctx, sn, name)
			if err != nil {
				t.Fatal(err)
			}
			v := stored[name]
			for _, id := range n.Content {
				loc, _ := r.Index().Lookup(pack.DataBlob, id)
				v[k] += int64(loc.Entry.Length)
			}
			stored[name] = v
		}
	}
	t.Logf("stored bytes (default, fast): %v", stored)
	if s := stored["app.log"]; s[0] != s[1] || s[0] == 0 || s[0] > 20<<20/2 {
		t.Fatalf("the large file's chunks: default stored %d bytes, fast %d", s[0], s[1])
	}
	if s := stored["config.txt"]; s[0] != s[1] || s[0] == 0 || s[0] > 100<<10/2 {
		t.Fatalf("the small file: default stored %d bytes, fast %d", s[0], s[1])
	}
}
