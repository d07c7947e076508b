package snapshot

import (
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
)

// BenchmarkSplitters finds the boundaries of 64 MiB of random data with
// each chunker, at the repository defaults: the serial part of cutting a
// large file.
func BenchmarkSplitters(b *testing.B) {
	data := treetest.RandomBytes(2, 64<<20)
	for _, kind := range chunkers {
		b.Run("chunker "+kind, func(b *testing.B) {
			cfg := testConfig(b)
			cfg.Chunker = kind
			s := newSplitter(cfg)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				s.Reset()
				for rest := data; len(rest) > 0; {
					n := s.NextSplitPoint(rest)
					if n < 0 {
						break
					}
					rest = rest[n:]
				}
			}
		})
	}
}
