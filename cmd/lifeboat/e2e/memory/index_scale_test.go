package memory

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/index"
	"github.com/lifeboat-backup/lifeboat/repository/pack"
	"github.com/lifeboat-backup/lifeboat/targets/local"
)

// A backup of a small directory into a repository whose index names two
// million blobs (index files only: the packs they name do not exist, and
// the backup needs none of them) stays within a stated bound of memory:
// 160 MiB plus 64 bytes a blob (the in-memory index takes about 47; the
// bound leaves room for the Go runtime's slack). The peak is the process's
// maximum resident set, as the kernel counts it (runPeak).
func TestBackupBesideMillionsOfIndexedBlobs(t *testing.T) {
	const files, packsPerFile, blobsPerPack = 200, 100, 100
	const blobs = files * packsPerFile * blobsPerPack
	c := lb.CLI(t)
	c.OK("init")
	ctx := context.Background()
	tg, err := local.New(c.Repo)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := repository.Open(ctx, tg, []byte("correct horse"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	random := func() (id pack.ID) {
		for i := 0; i < len(id); i += 8 {
			v := rng.Uint64()
			for k := range 8 {
				id[i+k] = byte(v >> (8 * k))
			}
		}
		return id
	}
	for range files {
		f := &index.File{}
		for range packsPerFile {
			p := index.PackBlobs{Pack: random()}
			for b := range blobsPerPack {
				p.Entries = append(p.Entries, pack.Entry{Type: pack.DataBlob, ID: random(), Offset: uint32(b) * 4096, Length: 4096})
			}
			f.Packs = append(f.Packs, p)
		}
		if _, err := repo.SaveIndexFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}

	src := t.TempDir()
	treetest.Build(t, src)
	out, peak, err := clitest.RunPeak(t, c.Cmd("backup", "--path", src))
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	bound := int64(160<<20 + 64*blobs)
	t.Logf("peak RSS %d MiB with %d blobs indexed (bound %d MiB)", peak>>20, blobs, bound>>20)
	if peak > bound {
		t.Fatalf("backup peaked at %d MiB, over the bound of %d MiB", peak>>20, bound>>20)
	}
	if peak < 47*blobs { // the index alone takes that: a smaller peak means it was not loaded
		t.Fatalf("backup peaked at %d MiB, less than two million blobs take: the index was not loaded", peak>>20)
	}
	dst := t.TempDir()
	c.OK("restore", "latest", "--target", dst)
	if err := treetest.Compare(src, dst); err != nil {
		t.Fatal(err)
	}
	if out := c.OK("snapshots"); !strings.Contains(out, "1 snapshot") {
		t.Fatalf("snapshots:\n%s", out)
	}
}
