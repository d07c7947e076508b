package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// targets are the most each phase may take, as a share of restic's time.
var targets = map[string]float64{phaseFirst: 0.5, phaseUnchanged: 0.5, phaseChanged: 0.6, phaseRestore: 0.6, phaseSmall: 0.5}

// dbTarget is the most the backup after the page writes may add, as a
// share of the database file.
const dbTarget = 0.10

func (b *bench) report(s sizes, total int64, smallSrc string) string {
	var w strings.Builder
	lb, rs := b.tools[0], b.tools[1]
	host, _ := os.Hostname()
	fmt.Fprintf(&w, "# Benchmarks: lifeboat and restic side by side\n\n")
	fmt.Fprintf(&w, "Made by `go run ./bench` on %s. Machine: %s, %d cores, %s memory (host %s). %s; %s (default compression); %s.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpuModel(), runtime.NumCPU(), memTotal(), host, lb.version, rs.version, runtime.Version())
	fmt.Fprintf(&w, "Each measurement ran %d times, each time in a repository of its own, the tools taking turns to go first; the tables show the median of each measure, and the ratio of the median times. ", b.runs)
	if b.dropCache {
		w.WriteString("Each run starts with a cold page cache (`-drop-caches`, the default as root): the data is read from the disk, as in a nightly backup. ")
	} else {
		w.WriteString("The page cache was not dropped (`-drop-caches=false`): the data is read from memory, but the cache also holds the earlier runs' repositories and restores, so writing pays for reclaiming it. ")
	}
	w.WriteString("Every restore is checked against its source.\n\n")

	fmt.Fprintf(&w, "## The mixed data set\n\n%s in all: one %s file (half random, half log text), %d small files of 1 to 16 KiB in 200 directories",
		mib(total), mib(s.LargeBytes), s.SmallFiles)
	if s.GoRoot {
		w.WriteString(", and a copy of GOROOT")
	}
	w.WriteString(". The change rewrites 1% of the large file in scattered 64 KiB blocks, inserts four short strings (shifting content), and appends to 1% of the small files.\n\n")
	w.WriteString("| phase | lifeboat | restic | ratio (target) | lifeboat peak RSS | restic peak RSS | lifeboat added | restic added |\n")
	w.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, ph := range append(mixedPhases, phaseSmall) {
		l, r := median(b.results[ph][lb.name]), median(b.results[ph][rs.name])
		fmt.Fprintf(&w, "| %s | %.2f s | %.2f s | %s | %d MiB | %d MiB | %s | %s |\n",
			ph, l.seconds, r.seconds, ratio(l.seconds/r.seconds, targets[ph]), l.rssKiB/1024, r.rssKiB/1024, mib(l.added), mib(r.added))
	}
	fmt.Fprintf(&w, "\nThe restore of many small files restores a snapshot of %s alone (%d entries).\n", filepath.Base(smallSrc), countEntries(smallSrc))
	fmt.Fprintf(&w, "\nRepository size after the first backup: lifeboat %s, restic %s; after all three backups (first run): lifeboat %s, restic %s.\n",
		mib(median(b.results[phaseFirst][lb.name]).added), mib(median(b.results[phaseFirst][rs.name]).added),
		mib(dirSize(b.repo("mixed", lb, 0))), mib(dirSize(b.repo("mixed", rs, 0))))

	fmt.Fprintf(&w, "\n## A database-like file\n\nA %s file of random 8 KiB pages is backed up; then 1%% of its pages, chosen at random, are rewritten in place, and the next backup is measured.\n\n", mib(s.DBBytes))
	w.WriteString("| tool | time | added | added / file size (target) | peak RSS |\n| --- | ---: | ---: | ---: | ---: |\n")
	for _, t := range b.tools {
		m := median(b.results[phaseDB][t.name])
		share := float64(m.added) / float64(s.DBBytes)
		verdict := fmt.Sprintf("%.1f%%", 100*share)
		if t == lb {
			verdict = ratioPercent(share, dbTarget)
		}
		fmt.Fprintf(&w, "| %s | %.2f s | %s | %s | %d MiB |\n", t.name, m.seconds, mib(m.added), verdict, m.rssKiB/1024)
	}

	w.WriteString("\n## Compression settings\n\nlifeboat's first backup of the mixed data set at each `--compression` setting (the default's row is the first backup above), and restic's at its default.\n\n")
	w.WriteString("| setting | first backup | ratio to restic's time | repository size | size / restic's |\n| --- | ---: | ---: | ---: | ---: |\n")
	r := median(b.results[phaseFirst][rs.name])
	for _, setting := range compressionSettings {
		m := b.firstBackup(lb, setting)
		fmt.Fprintf(&w, "| lifeboat %s | %.2f s | %.2f | %s | %.3f |\n", setting, m.seconds, m.seconds/r.seconds, mib(m.added), float64(m.added)/float64(r.added))
	}
	fmt.Fprintf(&w, "| restic default | %.2f s | 1.00 | %s | 1.000 |\n", r.seconds, mib(r.added))
	w.WriteString("\n" + compressionVerdict(b, lb, r) + "\n")
	return w.String()
}

// firstBackup is the median of lb's first backups at a compression
// setting (the default's are the mixed scenario's).
func (b *bench) firstBackup(lb *tool, setting string) result {
	ph := compressionPhase(setting)
	if setting == "default" {
		ph = phaseFirst
	}
	return median(b.results[ph][lb.name])
}

// compressionVerdict says which settings meet the time target (a first
// backup in at most targets[phaseFirst] of restic's time) and which the
// size target (a repository no larger than restic's), against restic's
// median r, and which of the fast enough ones stores least.
func compressionVerdict(b *bench, lb *tool, r result) string {
	target := targets[phaseFirst]
	var both, fast, small []string
	var smallest string
	var least int64
	for _, setting := range compressionSettings {
		m := b.firstBackup(lb, setting)
		t, z := m.seconds <= target*r.seconds, m.added <= r.added
		switch {
		case t && z:
			both = append(both, setting)
		case t:
			fast = append(fast, setting)
		case z:
			small = append(small, setting)
		}
		if t && (smallest == "" || m.added < least) {
			smallest, least = setting, m.added
		}
	}
	targetsText := fmt.Sprintf("a first backup in at most %.1f of restic's time, a repository no larger than restic's", target)
	if len(both) > 0 {
		return fmt.Sprintf("Both targets (%s) are met by: %s.", targetsText, strings.Join(both, ", "))
	}
	out := fmt.Sprintf("No setting meets both targets (%s): the time target is met by %s, the size target by %s.",
		targetsText, orNone(fast), orNone(small))
	if smallest != "" {
		out += fmt.Sprintf(" Of the settings fast enough, %s stores least (%.3f of restic's size).", smallest, float64(least)/float64(r.added))
	}
	return out
}

// orNone lists s, or says none.
func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// ratio formats a time ratio with its target.
func ratio(v, target float64) string {
	mark := "ok"
	if v > target {
		mark = "missed"
	}
	return fmt.Sprintf("%.2f (≤ %.1f, %s)", v, target, mark)
}

// ratioPercent formats a share with its target.
func ratioPercent(v, target float64) string {
	mark := "ok"
	if v > target {
		mark = "missed"
	}
	return fmt.Sprintf("%.1f%% (≤ %.0f%%, %s)", 100*v, 100*target, mark)
}

// median of each measure over the runs, taken separately.
func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
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

// countEntries counts the files, directories and links below dir.
func countEntries(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(string, fs.DirEntry, error) error { n++; return nil })
	return n - 1
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

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
