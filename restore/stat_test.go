package restore_test

import (
	"testing"

	"golang.org/x/sys/unix"
)

type fileStat struct{ size, blocks int64 }

func stat(t *testing.T, p string) fileStat {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return fileStat{st.Size, st.Blocks}
}
