package main

import (
	"strings"
	"testing"
)

// A run of the standard sets keeps every section other runs wrote, the
// PostgreSQL ones of each rate included, in order, and nothing else.
func TestSectionsKept(t *testing.T) {
	doc := strings.Join([]string{
		"# Benchmarks", "old table",
		"<!-- go test benchmarks: copied from their output -->", "figures", "<!-- end of go test benchmarks -->",
		"<!-- postgres at 200 tps: written by go run ./bench -postgres -pg-rate 200 -->", "r200", "<!-- end of postgres at 200 tps -->",
		"between",
		pgSection(0).begin, "full", pgSection(0).end,
		"<!-- broken: never ended -->", "lost",
	}, "\n")
	got := sections(doc)
	want := []string{"figures", "r200", "full"}
	if len(got) != len(want) {
		t.Fatalf("sections %q, want %d", got, len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], "\n"+w+"\n") || strings.Contains(got[i], "between") {
			t.Fatalf("section %d is %q, want the one holding %q", i, got[i], w)
		}
	}
	if pgSection(200).begin != "<!-- postgres at 200 tps: written by go run ./bench -postgres -pg-rate 200 -->" {
		t.Fatalf("the 200 tps section's marker is %q", pgSection(200).begin)
	}
}
