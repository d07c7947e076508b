// Command bench measures lifeboat side by side with restic on reproducible
// data sets, checks that every restore equals its source, and writes the
// tables to docs/benchmarks.md:
//
//   - the mixed data set: first backup, backup with nothing changed,
//     backup after a change, and a full restore (wall time, peak RSS and
//     the bytes added to the repository);
//
//   - a database-like file whose 8 KiB pages are rewritten at random (1%
//     of them): the bytes the next backup adds;
//
//   - the restore of many small files (a copy of GOROOT);
//
//   - lifeboat's first backup of the mixed set at each --compression
//     setting: time and repository size;
//
//   - with -moves, instead of the above: the downtime of moving and
//     upgrading a volume that an application writes into (moves.go),
//     written into its own section of the -out file;
//
//   - with -postgres, instead of the above: the same for a PostgreSQL
//     server under pgbench (postgres.go), downtime measured from outside
//     and the moved database checked, in its own section;
//
//   - with -wan, instead of the above: the mixed set's four phases on an
//     S3 server across a shaped link (wan.go: round-trip time and rate,
//     the bytes and round trips each tool spent), in its own section.
//
//     go run ./bench                 # the standard sets (~1.5 GiB), about fifteen minutes
//     go run ./bench -small -runs 1  # a quick run, as CI does
//     go run ./bench -moves          # the moves scenario (Docker, dockerd, busybox-static)
//     go run ./bench -postgres -runs 1 # a busy PostgreSQL (-pg-image, -pg-rate 0 for full rate)
//     go run ./bench -wan -runs 1    # S3 across a 30 ms, 200 Mbit/s link (-rtt, -rate-mbit)
//
// Each measurement runs -runs times, each time in a repository of its own,
// with the tools taking turns to go first; the tables show medians.
// Restores go into fresh directories that are removed only at the end,
// because ext4 allocates inodes slowly right after many were deleted,
// which would penalise whichever tool ran after a removal.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/linkshape"
)

func main() {
	var (
		small     = flag.Bool("small", false, "small data sets (64 MiB large file, 2,000 small files, no GOROOT, a 32 MiB database)")
		largeMiB  = flag.Int64("large-mib", 1024, "size of the large file in MiB")
		files     = flag.Int("small-files", 20000, "number of small files")
		goroot    = flag.Bool("goroot", true, "include a copy of GOROOT")
		dbMiB     = flag.Int64("db-mib", 256, "size of the database-like file in MiB")
		out       = flag.String("out", "docs/benchmarks.md", "where to write the tables (empty: only print)")
		work      = flag.String("work", "", "work directory (default: a new temporary one, removed at the end)")
		dropCache = flag.Bool("drop-caches", os.Geteuid() == 0, "drop the page cache before each run (needs root)")
		runs      = flag.Int("runs", 3, "how many times each measurement runs; the tables show medians")
		doMoves   = flag.Bool("moves", false, "measure moves and upgrades of a volume in use instead (needs Docker, dockerd and busybox-static)")
		doPG      = flag.Bool("postgres", false, "measure moves and upgrades of a busy PostgreSQL instead (Docker, dockerd and a PostgreSQL image: -pg-image)")
		pgImage   = flag.String("pg-image", "lifeboat-test/postgres:15", "with -postgres: the PostgreSQL image (../shared/tools/mkpgimage.sh builds this one)")
		pgScale   = flag.Int("pg-scale", 20, "with -postgres: pgbench's scale factor (20: about 300 MiB of tables)")
		pgRate    = flag.Int("pg-rate", 200, "with -postgres: pgbench's transactions a second (0: as fast as it goes)")
		pgLoad    = flag.Duration("pg-load", 20*time.Second, "with -postgres: how long pgbench runs before each move")
		doSwarm   = flag.Bool("swarm", false, "measure moves of a swarm service between two nodes instead (needs Docker's CLI, dockerd, iproute2 and busybox-static)")
		doWeb     = flag.Bool("web", false, "measure the daemon's page over many snapshots and volumes instead (needs Docker): -web-snapshots, -web-volumes")
		webSnaps  = flag.Int("web-snapshots", 10000, "with -web: snapshots in the repository")
		webVols   = flag.Int("web-volumes", 200, "with -web: volumes on the engine")
		doWAN     = flag.Bool("wan", false, "measure the mixed set (256 MiB large file, 2,000 small files, GOROOT) on S3 across a shaped link instead (versitygw, built if missing)")
		rtt       = flag.Duration("rtt", 30*time.Millisecond, "with -wan: the link's round-trip time")
		rateMbit  = flag.Float64("rate-mbit", 200, "with -wan: the link's rate each way in Mbit/s, shared by all connections (0: unlimited)")
	)
	flag.Parse()
	s := sizes{LargeBytes: *largeMiB << 20, SmallFiles: *files, GoRoot: *goroot, DBBytes: *dbMiB << 20}
	switch {
	case *small:
		s = sizes{LargeBytes: 64 << 20, SmallFiles: 2000, DBBytes: 32 << 20}
	case *doWAN:
		s = sizes{LargeBytes: 256 << 20, SmallFiles: 2000, GoRoot: true, DBBytes: 1 << 20}
	}
	if *rtt < 0 || *rateMbit < 0 {
		fmt.Fprintln(os.Stderr, "bench: -rtt and -rate-mbit must not be negative")
		os.Exit(2)
	}
	if *pgScale < 1 || *pgRate < 0 || *pgLoad <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -pg-scale must be at least 1, -pg-rate not negative and -pg-load positive")
		os.Exit(2)
	}
	if *webSnaps < 1 || *webVols < 1 {
		fmt.Fprintln(os.Stderr, "bench: -web-snapshots and -web-volumes must be at least 1")
		os.Exit(2)
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be at least 1")
		os.Exit(2)
	}
	if s.LargeBytes <= 0 || s.DBBytes < 1<<20 || s.SmallFiles < 0 {
		fmt.Fprintln(os.Stderr, "bench: -large-mib must be positive, -db-mib at least 1 and -small-files not negative")
		os.Exit(2)
	}
	err := inWork(*work, func(work, lb string) error {
		if *doMoves {
			return runMoves(s, *out, work, lb, *runs)
		}
		if *doSwarm {
			return runSwarm(s, *out, work, lb, *runs)
		}
		if *doPG {
			return runPostgres(*out, work, lb, *runs, pgOptions{image: *pgImage, scale: *pgScale, rate: *pgRate, load: *pgLoad})
		}
		if *doWeb {
			return runWeb(*out, work, lb, webOptions{snapshots: *webSnaps, volumes: *webVols, requests: 20})
		}
		if *doWAN {
			link := linkshape.Link{RTT: *rtt, Rate: int64(*rateMbit * 1e6 / 8)}
			return runWAN(s, *out, work, lb, *runs, link)
		}
		return run(s, *out, work, lb, *dropCache, *runs)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// inWork calls fn with the work directory (a new temporary one, removed
// afterwards, if work is empty) and lifeboat built into it, statically:
// the same binary runs as the sidecar.
func inWork(work string, fn func(work, lb string) error) error {
	if work == "" {
		dir, err := os.MkdirTemp("", "lifeboat-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	lb := filepath.Join(work, "lifeboat")
	build := exec.Command("go", "build", "-o", lb, "./cmd/lifeboat")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build lifeboat: %v\n%s", err, out)
	}
	return fn(work, lb)
}

// newTools returns lifeboat at lb and restic, each with its password and
// a cache in work, plus the environment given (a remote repository's
// settings).
func newTools(work, lb, restic string, lbEnv, resticEnv []string) []*tool {
	tools := []*tool{
		{
			name: "lifeboat", bin: lb,
			env:      append([]string{"LIFEBOAT_PASSWORD=" + password, "LIFEBOAT_CACHE_DIR=" + filepath.Join(work, "lifeboat-cache")}, lbEnv...),
			init:     []string{"init", "-q"},
			backup:   func(src string) []string { return []string{"backup", "-q", "--path", src} },
			restore:  func(dst string) []string { return []string{"restore", "-q", "latest", "--target", dst} },
			restored: func(dst, _ string) string { return dst },
		},
		{
			name: "restic", bin: restic,
			env:      append([]string{"RESTIC_PASSWORD=" + password, "RESTIC_CACHE_DIR=" + filepath.Join(work, "restic-cache")}, resticEnv...),
			init:     []string{"init", "-q"},
			backup:   func(src string) []string { return []string{"backup", "-q", src} },
			restore:  func(dst string) []string { return []string{"restore", "-q", "latest", "--target", dst} },
			restored: func(dst, src string) string { return filepath.Join(dst, src) },
		},
	}
	for _, t := range tools {
		t.version = versionOf(t)
	}
	return tools
}

// bench is one run of the harness.
type bench struct {
	work      string
	runs      int
	dropCache bool
	tools     []*tool
	results   map[string]map[string][]result // phase, tool
}

// each runs fn for every run and tool, the tools taking turns to go first.
func (b *bench) each(fn func(i int, t *tool) error) error {
	for i := range b.runs {
		for k := range b.tools {
			if err := fn(i, b.tools[(i+k)%len(b.tools)]); err != nil {
				return err
			}
		}
	}
	return nil
}

// repo is the repository of tool t for run i of a scenario.
func (b *bench) repo(scenario string, t *tool, i int) string {
	return filepath.Join(b.work, fmt.Sprintf("repo-%s-%s-%d", scenario, t.name, i+1))
}

// measure runs t with args on repo from a quiet disk (and a cold page
// cache when allowed) and records the result under phase.
func (b *bench) measure(phase string, t *tool, repo string, args []string) error {
	_ = exec.Command("sync").Run()
	waitIdle(30 * time.Second)
	if b.dropCache {
		_ = os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
	}
	before := dirSize(repo)
	r, err := t.exec(repo, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", t.name, phase, err)
	}
	r.added = dirSize(repo) - before
	if b.results[phase] == nil {
		b.results[phase] = map[string][]result{}
	}
	b.results[phase][t.name] = append(b.results[phase][t.name], r)
	fmt.Printf("%-34s %-9s %7.2f s %7d MiB peak RSS %9s added\n", phase, t.name, r.seconds, r.rssKiB/1024, mib(r.added))
	return nil
}

// restoreChecked restores repo's latest snapshot of src with t into a new
// directory (kept until the end, see the package comment), timed as phase,
// and checks it against want.
func (b *bench) restoreChecked(phase string, t *tool, repo, src, want string, i int) error {
	dst := filepath.Join(b.work, fmt.Sprintf("restore-%s-%s-%d", strings.ReplaceAll(phase, " ", "-"), t.name, i+1))
	if err := b.measure(phase, t, repo, t.restore(dst)); err != nil {
		return err
	}
	got, err := digest(t.restored(dst, src))
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s restored something other than the source (%s)", t.name, phase)
	}
	return nil
}

func run(s sizes, outFile, work, lb string, dropCache bool, runs int) error {
	restic, err := ensureTools(work)
	if err != nil {
		return err
	}
	b := &bench{work: work, runs: runs, dropCache: dropCache, results: map[string]map[string][]result{}}
	b.tools = newTools(work, lb, restic, nil, nil)
	defer func() {
		// Restores were kept so that none ran after a large removal.
		matches, _ := filepath.Glob(filepath.Join(work, "restore-*"))
		for _, dst := range matches {
			os.RemoveAll(dst)
		}
	}()
	src := filepath.Join(work, "data")
	fmt.Printf("generating the data sets in %s\n", work)
	if err := generate(src, s); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	total := dirSize(src)
	// The other settings before the mixed scenario changes the data set:
	// its first backup is the default setting's row.
	if err := b.compression(src); err != nil {
		return err
	}
	if err := b.mixed(src, s); err != nil {
		return err
	}
	if err := b.database(filepath.Join(work, "db"), s.DBBytes); err != nil {
		return err
	}
	smallSrc := filepath.Join(src, "goroot")
	if !s.GoRoot {
		smallSrc = filepath.Join(src, "small")
	}
	if err := b.smallFiles(smallSrc); err != nil {
		return err
	}
	table := b.report(s, total, smallSrc)
	fmt.Print("\n" + table)
	if outFile == "" {
		return nil
	}
	// The sections measured by other runs are kept.
	old, _ := os.ReadFile(outFile)
	for _, sec := range sections(string(old)) {
		table += "\n" + sec
	}
	return os.WriteFile(outFile, []byte(table), 0o644)
}

// runMoves measures the moves scenario and writes its section of outFile.
func runMoves(s sizes, outFile, work, lb string, runs int) error {
	table, err := moves(work, lb, s, runs)
	if err != nil {
		return err
	}
	return movesSection.write(outFile, table)
}

// write prints table and puts it in outFile (unless "") as this section,
// in place of the one there, the rest of the file kept.
func (m section) write(outFile, table string) error {
	fmt.Print("\n" + table)
	if outFile == "" {
		return nil
	}
	old, err := os.ReadFile(outFile)
	if err != nil {
		return err
	}
	rest, _, _ := m.cut(string(old))
	return os.WriteFile(outFile, []byte(rest+"\n"+m.begin+"\n"+table+m.end+"\n"), 0o644)
}

// section is a part of the report measured by another run, between two
// marker lines.
type section struct{ begin, end string }

var (
	movesSection = section{"<!-- moves: written by go run ./bench -moves -->", "<!-- end of moves -->"}
)

// sectionBegin matches the first line of a section: its name, and what
// writes it.
var sectionBegin = regexp.MustCompile(`(?m)^<!-- ([^:\n]+): [^\n]*-->$`)

// sections are the sections in doc, with their marker lines, in order.
func sections(doc string) []string {
	var out []string
	for _, m := range sectionBegin.FindAllStringSubmatch(doc, -1) {
		if _, sec, ok := (section{m[0], "<!-- end of " + m[1] + " -->"}).cut(doc); ok {
			out = append(out, sec)
		}
	}
	return out
}

// cut splits a report into the rest and the section (with its marker
// lines).
func (m section) cut(doc string) (rest, sec string, ok bool) {
	before, after, ok := strings.Cut(doc, m.begin)
	if !ok {
		return doc, "", false
	}
	body, tail, ok := strings.Cut(after, m.end)
	if !ok {
		return doc, "", false
	}
	return strings.TrimRight(before, "\n") + "\n" + strings.TrimLeft(tail, "\n"), m.begin + body + m.end + "\n", true
}
