package treetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Compare must notice each kind of difference, or the round-trip tests
// would prove nothing.
func TestCompareDetectsEachDifference(t *testing.T) {
	RequireRoot(t)
	mutations := map[string]func(dir string) error{
		"mode":   func(d string) error { return os.Chmod(filepath.Join(d, "bin/setuid"), 0o755) },
		"owner":  func(d string) error { return os.Lchown(filepath.Join(d, "owned/by-app"), 1, 1) },
		"xattrs": func(d string) error { return unix.Removexattr(filepath.Join(d, "bin/cap"), "security.capability") },
		"symlink": func(d string) error {
			os.Remove(filepath.Join(d, "link-rel"))
			return os.Symlink("x", filepath.Join(d, "link-rel"))
		},
		"content": func(d string) error {
			return os.WriteFile(filepath.Join(d, "deep/a/b/c/d/leaf"), []byte("leaF"), 0o444)
		},
		"mtime": func(d string) error {
			return unix.UtimesNano(filepath.Join(d, "empty"), []unix.Timespec{{Sec: 1}, {Sec: 1}})
		},
		"missing": func(d string) error { return os.Remove(filepath.Join(d, "fifo")) },
		"hard link group": func(d string) error {
			p := filepath.Join(d, "hardlink2")
			os.Remove(p)
			return os.WriteFile(p, []byte("hello, lifeboat\n"), 0o644)
		},
		"sparse blocks": func(d string) error {
			f, err := os.OpenFile(filepath.Join(d, "sparse.img"), os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt(make([]byte, 1<<20), 10<<20) // fills a hole with zeros
			return err
		},
	}
	for what, mutate := range mutations {
		t.Run(what, func(t *testing.T) {
			a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
			for _, d := range []string{a, b} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
				Build(t, d)
			}
			if err := Compare(a, b); err != nil {
				t.Fatalf("identical builds differ:\n%v", err)
			}
			if err := mutate(b); err != nil {
				t.Fatal(err)
			}
			err := Compare(a, b)
			if err == nil || !strings.Contains(err.Error(), what) {
				t.Fatalf("mutation %q not reported: %v", what, err)
			}
		})
	}
}
