package human

import "testing"

func TestBytesAndCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 64 << 20: "64.0 MiB", 3 << 40: "3.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if Count(1, "file", "files") != "1 file" || Count(0, "file", "files") != "0 files" || Count(2, "file", "files") != "2 files" {
		t.Error("Count")
	}
}
