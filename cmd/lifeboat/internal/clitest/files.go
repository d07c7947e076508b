package clitest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// WriteTree writes files (path: content) into a new temporary directory
// and returns it.
func WriteTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for p, data := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Size is the size of the file at p.
func Size(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// WaitFile polls until the file at path holds want, for at most within.
func WaitFile(t *testing.T, path, want string, within time.Duration) {
	t.Helper()
	var got []byte
	for deadline := time.Now().Add(within); ; time.Sleep(25 * time.Millisecond) {
		got, _ = os.ReadFile(path)
		if string(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s to hold %q: it holds %q", within, path, want, got)
		}
	}
}
