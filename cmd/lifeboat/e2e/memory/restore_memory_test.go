package memory

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
)

// manyFiles makes n empty files, 1,000 to a directory.
func manyFiles(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	for d := 0; d*1000 < n; d++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", d))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 1000 && d*1000+f < n; f++ {
			fh, err := os.Create(filepath.Join(sub, fmt.Sprintf("f%03d", f)))
			if err != nil {
				t.Fatal(err)
			}
			fh.Close()
		}
	}
	return dir
}

// restorePeak backs up n empty files and restores them, returning the
// restore's peak resident memory as the kernel counts it.
func restorePeak(t *testing.T, n int) int64 {
	t.Helper()
	c := lb.CLI(t)
	c.OK("init")
	src := manyFiles(t, n)
	c.OK("backup", "--path", src)
	dst := filepath.Join(t.TempDir(), "restored")
	out, peak, err := clitest.RunPeak(t, c.Cmd("restore", "latest", "--target", dst))
	if err != nil {
		t.Fatalf("restore of %d files: %v\n%s", n, err, out)
	}
	got := 0
	err = filepath.WalkDir(dst, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			got++
		}
		return err
	})
	if err != nil || got != n {
		t.Fatalf("restored %d of %d files: %v", got, n, err)
	}
	return peak
}

// A restore plans and carries out its files in batches, so its memory
// does not grow with the number of files: restoring a million files peaks
// within 32 MiB of restoring a hundred thousand (unbatched, the million
// took about 1 KiB a file more), and under 256 MiB.
func TestRestoreMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("a million files")
	}
	small := restorePeak(t, 100_000)
	large := restorePeak(t, 1_000_000)
	t.Logf("restore peak: %d MiB for 100,000 files, %d MiB for 1,000,000", small>>20, large>>20)
	if large > small+32<<20 || large > 256<<20 {
		t.Fatalf("a million files peaked at %d MiB, a hundred thousand at %d MiB: memory grows with the files", large>>20, small>>20)
	}
}
