package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/repotest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/snapshot"
)

// A directory of 100,000 entries, browsed page after page: the first page
// decodes its tree, the next ones come from the tree cache. Reports the
// first page's time and each later page's.
func BenchmarkBrowseLargeDirectory(b *testing.B) {
	const entries = 100_000
	dir := b.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.Mkdir(big, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range entries {
		f, err := os.Create(filepath.Join(big, fmt.Sprintf("f%06d", i)))
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	repo, _ := repotest.New(b, repository.Options{})
	sn, err := snapshot.New(repo, snapshot.Options{Host: "h1"}).Run(context.Background(), []string{dir})
	if err != nil {
		b.Fatal(err)
	}
	src := fixture()
	src.repo, src.snaps = repo, []*repository.Snapshot{sn}
	s, err := New(src, Options{Host: "h1", Rate: 1e9, Burst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	page := func(offset int) {
		l, err := s.listing(context.Background(), repo, sn, "/big", offset)
		if err != nil || len(l.Entries) != pageSize || l.Total != entries {
			b.Fatalf("page at %d: %v", offset, err)
		}
	}
	start := time.Now()
	page(0)
	first := time.Since(start)
	b.ResetTimer()
	for i := range b.N {
		page((i + 1) * pageSize % (entries - pageSize))
	}
	b.ReportMetric(float64(first.Microseconds())/1000, "ms/first-page")
}
