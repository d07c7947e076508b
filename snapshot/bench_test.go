package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/crypto"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"github.com/lifeboat-backup/lifeboat/targets/local"
	"github.com/restic/chunker"
)

func benchRepo(b testing.TB) *repository.Repository {
	b.Helper()
	tg, err := local.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	kdf := func() (crypto.KDFParams, error) { return crypto.NewKDF(1, 64, 1) }
	r, err := repository.Init(context.Background(), tg, []byte("pw"), repository.Options{KDF: kdf})
	if err != nil {
		b.Fatal(err)
	}
	lock, err := r.LockAndLoad(context.Background(), false)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = lock.Unlock(context.Background()) })
	return r
}

// benchBackup backs dir up into a fresh local repository per iteration, so
// that every run cuts, hashes, compresses, seals and writes all data.
func benchBackup(b *testing.B, dir string, size int64) {
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		r := benchRepo(b)
		b.StartTimer()
		if _, err := snapshot.New(r, snapshot.Options{}).Run(context.Background(), []string{dir}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		r.Close()
		b.StartTimer()
	}
}

// Half random, half text: the mix of the benchmark data set.
func BenchmarkBackupLargeFile(b *testing.B) {
	dir := b.TempDir()
	const half = 128 << 20
	data := append(treetest.RandomBytes(1, half), textBytes(half)...)
	if err := os.WriteFile(filepath.Join(dir, "large.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	benchBackup(b, dir, int64(len(data)))
}

func BenchmarkBackupSmallFiles(b *testing.B) {
	dir := b.TempDir()
	var total int64
	for i := 0; i < 4000; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%40), fmt.Sprintf("f%d", i))
		data := treetest.RandomBytes(uint64(i), 1024+(i*37)%15360)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	benchBackup(b, dir, total)
}

// A database-like file of 256 MiB, backed up again after each rewrite of
// 1% of its 8 KiB pages at random: the guided cut of a changed file,
// which hashes the unchanged chunks (prehashed on every core) and re-cuts
// the changed ones.
func BenchmarkBackupPagesChanged(b *testing.B) {
	dir := b.TempDir()
	p := filepath.Join(dir, "db")
	const size, page = 256 << 20, 8 << 10
	if err := os.WriteFile(p, treetest.RandomBytes(2, size), 0o644); err != nil {
		b.Fatal(err)
	}
	r := benchRepo(b)
	defer r.Close()
	parent, err := snapshot.New(r, snapshot.Options{}).Run(context.Background(), []string{dir})
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	pages := treetest.RandomBytes(3, size/100)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for k := 0; k < size/page/100; k++ {
			at := int64((k*7919+i*104729)%(size/page)) * page
			if _, err := f.WriteAt(pages[k*page:(k+1)*page], at); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if parent, err = snapshot.New(r, snapshot.Options{Parent: parent}).Run(context.Background(), []string{dir}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunker is the Rabin chunker alone, the pipeline's floor.
func BenchmarkChunker(b *testing.B) {
	data := treetest.RandomBytes(2, 64<<20)
	pol, _ := chunker.RandomPolynomial()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := chunker.NewBase(pol, chunker.WithBaseBoundaries(512<<10, 8<<20))
		rest := data
		for len(rest) > 0 {
			n := c.NextSplitPoint(rest)
			if n < 0 {
				break
			}
			rest = rest[n:]
		}
	}
}

func textBytes(n int) []byte {
	line := []byte("2026-11-28T02:11:13Z INFO lifeboat: backed up volume pgdata in 1.234s\n")
	out := make([]byte, 0, n)
	for i := 0; len(out) < n; i++ {
		out = append(out, line...)
		out = append(out, byte('0'+i%10))
	}
	return out[:n]
}
