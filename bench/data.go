package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// dataset sizes, all reproducible from fixed seeds.
type sizes struct {
	LargeBytes int64 // one file, half random, half compressible text
	SmallFiles int   // 1 to 16 KiB each, in 200 directories
	GoRoot     bool  // include a copy of the Go installation's tree
	DBBytes    int64 // the database-like file
}

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6c696665626f6174)) }

func fillRandom(r *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		b[i], b[i+1], b[i+2], b[i+3], b[i+4], b[i+5], b[i+6], b[i+7] =
			byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
	}
}

// textBlock writes log-like lines: compressible, but not trivially so.
func textBlock(r *rand.Rand, n int) []byte {
	words := []string{"GET", "POST", "/api/v1/orders", "/static/app.js", "200", "404", "user=", "took", "ms", "cache=hit", "cache=miss"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "2026-11-%02dT%02d:%02d:%02dZ ", 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		for i := 0; i < 6; i++ {
			b.WriteString(words[r.IntN(len(words))])
			fmt.Fprintf(&b, "%d ", r.IntN(100000))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()[:n]
}

// generate writes the data set into dir.
func generate(dir string, s sizes) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "large.bin"))
	if err != nil {
		return err
	}
	r := rng(1)
	buf := make([]byte, 1<<20)
	for written := int64(0); written < s.LargeBytes; written += int64(len(buf)) {
		chunk := buf
		if written < s.LargeBytes/2 {
			fillRandom(r, chunk)
		} else {
			chunk = textBlock(r, len(buf))
		}
		if rest := s.LargeBytes - written; rest < int64(len(chunk)) {
			chunk = chunk[:rest]
		}
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	r = rng(2)
	for i := 0; i < s.SmallFiles; i++ {
		p := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i%200), fmt.Sprintf("f%05d.dat", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b := make([]byte, 1024+r.IntN(15*1024+1))
		fillRandom(r, b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	if s.GoRoot {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			return fmt.Errorf("go env GOROOT: %w", err)
		}
		return copyTree(strings.TrimSpace(string(out)), filepath.Join(dir, "goroot"))
	}
	return nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			fi, _ := in.Stat()
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		}
		return nil
	})
}

// change applies the "after a change" edit: 1% of the large file rewritten
// in scattered 64 KiB blocks, a few short insertions that shift content,
// and 1% of the small files appended to. It streams, so that the harness
// stays small (a child's peak RSS counts its parent's at fork time).
func change(dir string, s sizes) error {
	p := filepath.Join(dir, "large.bin")
	f, size, err := openForChange(p)
	if err != nil {
		return err
	}
	r := rng(3)
	const block = 64 << 10
	buf := make([]byte, block)
	for i := 0; i < int(size/100/block); i++ {
		fillRandom(r, buf)
		if _, err := f.WriteAt(buf, r.Int64N(size-block)); err != nil {
			f.Close()
			return err
		}
	}
	var offsets []int64
	for i := 0; i < 4; i++ {
		offsets = append(offsets, r.Int64N(size))
	}
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })
	out, err := os.Create(p + ".new")
	if err != nil {
		f.Close()
		return err
	}
	var pos int64
	for _, off := range offsets {
		if _, err := io.Copy(out, io.NewSectionReader(f, pos, off-pos)); err != nil {
			return err
		}
		fmt.Fprintf(out, "-- inserted at %d --", off)
		pos = off
	}
	if _, err := io.Copy(out, io.NewSectionReader(f, pos, size-pos)); err != nil {
		return err
	}
	f.Close()
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(p+".new", p); err != nil {
		return err
	}
	for i := 0; i < s.SmallFiles; i += 100 {
		p := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i%200), fmt.Sprintf("f%05d.dat", i))
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write(textBlock(r, 512)); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// dirSize sums the sizes of the files below dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// openForChange opens the file at p for writing in place, with its size.
func openForChange(p string) (*os.File, int64, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// dbPage is the page size of the database-like file (PostgreSQL's).
const dbPage = 8 << 10

// generateDB writes a database-like file of size bytes at dir/base/16384/2619:
// random pages, as a table's heap after many updates.
func generateDB(dir string, size int64) error {
	p := filepath.Join(dir, "base", "16384", "2619")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	r := rng(4)
	buf := make([]byte, 1<<20)
	for written := int64(0); written < size; written += int64(len(buf)) {
		fillRandom(r, buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), size-written)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// changeDB rewrites 1% of the database-like file's pages, chosen at random
// (seed: the run), in place, as a database's checkpoint does.
func changeDB(dir string, run int) error {
	return changePages(filepath.Join(dir, "base", "16384", "2619"), 100+uint64(run))
}

// changePages rewrites 1% of the 8 KiB pages of the file at p, chosen at
// random from seed, in place.
func changePages(p string, seed uint64) error {
	f, size, err := openForChange(p)
	if err != nil {
		return err
	}
	r := rng(seed)
	pages := int(size / dbPage)
	page := make([]byte, dbPage)
	for _, pg := range r.Perm(pages)[:pages/100] {
		fillRandom(r, page)
		if _, err := f.WriteAt(page, int64(pg)*dbPage); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
