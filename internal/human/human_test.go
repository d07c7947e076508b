package human

import (
	"testing"
	"time"
)

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

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 42 * time.Second: "42s", 12*time.Minute + 5*time.Second: "12m 5s",
		5*time.Hour + 3*time.Minute + 20*time.Second: "5h 3m", 76 * time.Hour: "3d 4h",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
