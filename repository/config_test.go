package repository

import (
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/targets/mem"
)

// A new repository is cut by the gear chunker; a config naming a chunker
// this lifeboat does not know is refused, not read as Rabin.
func TestConfigChunker(t *testing.T) {
	cfg := testRepo(t, mem.New()).Config()
	if cfg.Chunker != ChunkerGear {
		t.Fatalf("a new repository has chunker %q, want %q", cfg.Chunker, ChunkerGear)
	}
	for _, c := range []string{"", ChunkerGear} {
		cfg.Chunker = c
		if err := cfg.Validate(); err != nil {
			t.Fatalf("chunker %q: %v", c, err)
		}
	}
	for _, c := range []string{"Gear", "rabin", "fastcdc"} {
		cfg.Chunker = c
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "chunker") {
			t.Fatalf("chunker %q: %v, want it refused", c, err)
		}
	}
}
