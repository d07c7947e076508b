// Command bench measures lifeboat side by side with restic on reproducible
// data sets: first backup, backup with nothing changed, backup after a
// change, and a full restore. For each tool and phase it records wall time,
// peak RSS and the bytes added to the repository, checks that both
// restores equal the source, and writes a table to docs/benchmarks.md.
//
//	go run ./bench                 # the standard set (~1.5 GiB), about ten minutes
//	go run ./bench -small -runs 1  # a quick run, as CI does
//
// Each phase runs -runs times, each time in a repository of its own, with
// the tools taking turns to go first; the table shows medians. Restores go
// into fresh directories that are removed only at the end, because ext4
// allocates inodes slowly right after many were deleted, which would
// penalise whichever tool ran after a removal.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"

	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	var (
		small     = flag.Bool("small", false, "a small data set (64 MiB large file, 2,000 small files, no GOROOT)")
		largeMiB  = flag.Int64("large-mib", 1024, "size of the large file in MiB")
		files     = flag.Int("small-files", 20000, "number of small files")
		goroot    = flag.Bool("goroot", true, "include a copy of GOROOT")
		out       = flag.String("out", "docs/benchmarks.md", "where to write the table (empty: only print)")
		work      = flag.String("work", "", "work directory (default: a new temporary one, removed at the end)")
		dropCache = flag.Bool("drop-caches", os.Geteuid() == 0, "drop the page cache before each run (needs root)")
		runs      = flag.Int("runs", 3, "how many times each phase runs; the table shows medians")
	)
	flag.Parse()
	s := sizes{LargeBytes: *largeMiB << 20, SmallFiles: *files, GoRoot: *goroot}
	if *small {
		s = sizes{LargeBytes: 64 << 20, SmallFiles: 2000}
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be at least 1")
		os.Exit(2)
	}
	if err := run(s, *out, *work, *dropCache, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type tool struct {
	name    string
	bin     string
	env     []string
	repo    string // the base name of its repositories: one per run
	version string
	init    []string
	backup  func(src string) []string
	restore func(dst string) []string
	// restored is where the data set lands below the restore target.
	restored func(dst, src string) string
}

type result struct {
	seconds float64
	rssKiB  int64
	added   int64
}

const password = "bench password"

func run(s sizes, outFile, work string, dropCache bool, runs int) error {
	if work == "" {
		dir, err := os.MkdirTemp("", "lifeboat-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	restic, err := ensureTools()
	if err != nil {
		return err
	}
	lb := filepath.Join(work, "lifeboat")
	if out, err := exec.Command("go", "build", "-o", lb, "./cmd/lifeboat").CombinedOutput(); err != nil {
		return fmt.Errorf("build lifeboat: %v\n%s", err, out)
	}
	src := filepath.Join(work, "data")
	fmt.Printf("generating the data set in %s\n", src)
	if err := generate(src, s); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	total := dirSize(src)
	tools := []*tool{
		{
			name: "lifeboat", bin: lb, repo: filepath.Join(work, "repo-lifeboat"),
			env:  []string{"LIFEBOAT_PASSWORD=" + password},
			init: []string{"init", "-q"},
			backup: func(src string) []string {
				return []string{"backup", "-q", "--path", src}
			},
			restore:  func(dst string) []string { return []string{"restore", "-q", "latest", "--target", dst} },
			restored: func(dst, _ string) string { return dst },
		},
		{
			name: "restic", bin: restic, repo: filepath.Join(work, "repo-restic"),
			env:      []string{"RESTIC_PASSWORD=" + password, "RESTIC_CACHE_DIR=" + filepath.Join(work, "restic-cache")},
			init:     []string{"init", "-q"},
			backup:   func(src string) []string { return []string{"backup", "-q", src} },
			restore:  func(dst string) []string { return []string{"restore", "-q", "latest", "--target", dst} },
			restored: func(dst, src string) string { return filepath.Join(dst, src) },
		},
	}
	for _, t := range tools {
		t.version = versionOf(t)
	}
	phases := []string{"first backup", "unchanged backup", "backup after change", "restore"}
	results := map[string]map[string][]result{}
	// each runs fn for every run and tool, the tools taking turns to go first.
	each := func(fn func(i int, t *tool) error) error {
		for i := range runs {
			for k := range tools {
				if err := fn(i, tools[(i+k)%len(tools)]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	measure := func(phase string, i int, t *tool, args []string) error {
		_ = exec.Command("sync").Run()
		waitIdle(30 * time.Second)
		if dropCache {
			_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
		}
		repo := t.repoOf(i)
		before := dirSize(repo)
		r, err := t.exec(i, args...)
		if err != nil {
			return fmt.Errorf("%s %s: %w", t.name, phase, err)
		}
		r.added = dirSize(repo) - before
		if results[phase] == nil {
			results[phase] = map[string][]result{}
		}
		results[phase][t.name] = append(results[phase][t.name], r)
		fmt.Printf("%-20s %-9s run %d %7.2f s %7d MiB peak RSS %9s added\n", phase, t.name, i+1, r.seconds, r.rssKiB/1024, mib(r.added))
		return nil
	}
	err = each(func(i int, t *tool) error {
		if _, err := t.exec(i, t.init...); err != nil {
			return fmt.Errorf("%s init: %w", t.name, err)
		}
		return measure(phases[0], i, t, t.backup(src))
	})
	if err != nil {
		return err
	}
	if err := each(func(i int, t *tool) error { return measure(phases[1], i, t, t.backup(src)) }); err != nil {
		return err
	}
	if err := change(src, s); err != nil {
		return fmt.Errorf("change: %w", err)
	}
	if err := each(func(i int, t *tool) error { return measure(phases[2], i, t, t.backup(src)) }); err != nil {
		return err
	}
	want, err := digest(src)
	if err != nil {
		return err
	}
	var restored []string
	defer func() {
		for _, dst := range restored {
			os.RemoveAll(dst)
		}
	}()
	err = each(func(i int, t *tool) error {
		dst := filepath.Join(work, fmt.Sprintf("restore-%s-%d", t.name, i+1))
		restored = append(restored, dst)
		if err := measure(phases[3], i, t, t.restore(dst)); err != nil {
			return err
		}
		got, err := digest(t.restored(dst, src))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s restored something other than the source", t.name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	table := report(s, total, runs, tools, phases, results)
	fmt.Print("\n" + table)
	if outFile != "" {
		return os.WriteFile(outFile, []byte(table), 0o644)
	}
	return nil
}

// waitIdle waits, at most limit, until the disks have done no I/O for a
// second: writeback, journal commits and discards left by the previous
// step (a deletion, the data set's generation) would otherwise slow
// whichever tool runs next, by up to half its time on the VMs we use.
func waitIdle(limit time.Duration) {
	deadline := time.Now().Add(limit)
	last := diskIO()
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		now := diskIO()
		if now == last {
			return
		}
		last = now
	}
}

// diskIO sums the sectors read and written and the requests in flight on
// every disk (/proc/diskstats).
func diskIO() int64 {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0
	}
	var sum int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 12 {
			continue
		}
		for _, k := range []int{5, 9, 11} { // sectors read, sectors written, I/Os in progress
			v, _ := strconv.ParseInt(f[k], 10, 64)
			sum += v
		}
	}
	return sum
}

// repoOf is the repository of run i.
func (t *tool) repoOf(i int) string { return fmt.Sprintf("%s-%d", t.repo, i+1) }

// exec runs the tool on the repository of run i under /usr/bin/time, which
// reports the peak RSS of the tool alone (measured from this harness, a
// child's peak would include the harness's own memory, shared until exec).
func (t *tool) exec(i int, args ...string) (result, error) {
	stats, err := os.CreateTemp("", "bench-time-")
	if err != nil {
		return result{}, err
	}
	stats.Close()
	defer os.Remove(stats.Name())
	cmd := exec.Command(timeBin, append([]string{"-f", "%M", "-o", stats.Name(), t.bin}, args...)...)
	cmd.Env = append(os.Environ(), t.env...)
	cmd.Env = append(cmd.Env, "LIFEBOAT_REPOSITORY="+t.repoOf(i), "RESTIC_REPOSITORY="+t.repoOf(i))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err = cmd.Run()
	r := result{seconds: time.Since(start).Seconds()}
	if b, rerr := os.ReadFile(stats.Name()); rerr == nil {
		lines := strings.Fields(string(b))
		if len(lines) > 0 {
			r.rssKiB, _ = strconv.ParseInt(lines[len(lines)-1], 10, 64)
		}
	}
	if err != nil {
		return r, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return r, nil
}

const timeBin = "/usr/bin/time"

func versionOf(t *tool) string {
	out, err := exec.Command(t.bin, "version").CombinedOutput()
	if err != nil {
		out, _ = exec.Command(t.bin, "--version").CombinedOutput()
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// ensureTools finds restic and GNU time, installing Debian's packages
// when they are missing, and returns restic's path.
func ensureTools() (string, error) {
	var missing []string
	if _, err := exec.LookPath("restic"); err != nil {
		missing = append(missing, "restic")
	}
	if _, err := os.Stat(timeBin); err != nil {
		missing = append(missing, "time")
	}
	if len(missing) > 0 {
		fmt.Printf("installing Debian's %s\n", strings.Join(missing, " and "))
		for _, args := range [][]string{{"update", "-qq"}, append([]string{"install", "-y", "-qq"}, missing...)} {
			cmd := exec.Command("apt-get", args...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				return "", fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
			}
		}
	}
	return exec.LookPath("restic")
}

// digest hashes every path, mode type and content below dir.
func digest(dir string) (string, error) {
	h := sha256.New()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %v\n", rel, fi.Mode().Type()) // directory sizes depend on history
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

var targets = map[string]float64{"first backup": 0.6, "unchanged backup": 0.5, "backup after change": 0.6, "restore": 0.6}

// median of each measure over the runs, taken separately.
func median(rs []result) result {
	pick := func(get func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return result{
		seconds: pick(func(r result) float64 { return r.seconds }),
		rssKiB:  int64(pick(func(r result) float64 { return float64(r.rssKiB) })),
		added:   int64(pick(func(r result) float64 { return float64(r.added) })),
	}
}

func report(s sizes, total int64, runs int, tools []*tool, phases []string, res map[string]map[string][]result) string {
	var b strings.Builder
	host, _ := os.Hostname()
	cpu := cpuModel()
	fmt.Fprintf(&b, "# Benchmarks: lifeboat and restic side by side\n\n")
	fmt.Fprintf(&b, "Made by `go run ./bench` on %s. Machine: %s, %d cores, %s memory (host %s). %s; %s; %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpu, runtime.NumCPU(), memTotal(), host, tools[0].version, tools[1].version, runtime.Version())
	fmt.Fprintf(&b, "Data set: %s in all: one %s file (half random, half log text), %d small files of 1 to 16 KiB in 200 directories",
		mib(total), mib(s.LargeBytes), s.SmallFiles)
	if s.GoRoot {
		b.WriteString(", and a copy of GOROOT")
	}
	b.WriteString(". The change rewrites 1% of the large file in scattered 64 KiB blocks, inserts four short strings (shifting content), and appends to 1% of the small files. ")
	b.WriteString("Each run starts with a cold page cache when the harness runs as root. Every restore is checked against the source.\n\n")
	fmt.Fprintf(&b, "Each phase ran %d times, each time in a repository of its own, the tools taking turns to go first; the table shows the median of each measure, and the ratio of the median times.\n\n", runs)
	b.WriteString("| phase | lifeboat | restic | ratio (target) | lifeboat peak RSS | restic peak RSS | lifeboat added | restic added |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, ph := range phases {
		l, r := median(res[ph]["lifeboat"]), median(res[ph]["restic"])
		ratio := l.seconds / r.seconds
		mark := "ok"
		if ratio > targets[ph] {
			mark = "missed"
		}
		fmt.Fprintf(&b, "| %s | %.2f s | %.2f s | %.2f (≤ %.1f, %s) | %d MiB | %d MiB | %s | %s |\n",
			ph, l.seconds, r.seconds, ratio, targets[ph], mark, l.rssKiB/1024, r.rssKiB/1024, mib(l.added), mib(r.added))
	}
	fmt.Fprintf(&b, "\nRepository size after all backups (first run): lifeboat %s, restic %s.\n",
		mib(dirSize(tools[0].repoOf(0))), mib(dirSize(tools[1].repoOf(0))))
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	var kib int64
	if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.0f GiB", float64(kib)/(1<<20))
}
