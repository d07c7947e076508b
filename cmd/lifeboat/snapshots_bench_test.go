package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/workers"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/targets/all"
	"github.com/lifeboat-backup/lifeboat/targets/s3"
)

var benchSnapshots = flag.Int("snapshots", 300, "snapshots in the repository of BenchmarkManySnapshotsOnS3 (the figures in docs/benchmarks.md are for 10000)")

// BenchmarkManySnapshotsOnS3 fills a repository in versitygw with many
// snapshots (written through the repository API, eight at a time), then
// times lifeboat's snapshots, forget --dry-run and a backup's parent
// lookup, each run twice: with an empty cache and with the cache the
// first run filled.
func BenchmarkManySnapshotsOnS3(b *testing.B) {
	ctx := context.Background()
	srv := testservers.StartS3(b)
	srv.Bucket(b, "lifeboat")
	loc := "s3://lifeboat/many"
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LIFEBOAT_PASSWORD=pw", "LIFEBOAT_REPOSITORY=" + loc,
		"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"LIFEBOAT_S3_ENDPOINT=" + srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true"}
	run := func(cache string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(lb.Path, args...)
		cmd.Env = append(env, "LIFEBOAT_CACHE_DIR="+cache)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("lifeboat %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	run(b.TempDir(), "init", "-q")
	tg, err := all.Open(ctx, loc, all.Options{S3: s3.Config{Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}})
	if err != nil {
		b.Fatal(err)
	}
	repo, err := repository.Open(ctx, tg, []byte("pw"), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer repo.Close()
	// One real snapshot, whose tree the others name, then the many.
	src := b.TempDir()
	if err := os.WriteFile(src+"/f", []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	run(b.TempDir(), "backup", "-q", "--path", src)
	sns, err := repo.Snapshots(ctx)
	if err != nil || len(sns) != 1 {
		b.Fatalf("snapshots: %v", err)
	}
	n := *benchSnapshots
	t0 := sns[0].Time
	if err := workers.ForEach(ctx, n-1, 8, func(ctx context.Context, i int) error {
		s := *sns[0]
		s.Time = t0.Add(-time.Duration(i+1) * time.Minute)
		s.Host = fmt.Sprintf("host-%d", i%100)
		_, err := repo.SaveSnapshot(ctx, &s)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for _, c := range []struct {
			name string
			args []string
		}{
			{"snapshots", []string{"snapshots", "-q", "--json"}},
			{"forget-dry-run", []string{"forget", "--keep-last", "1", "--dry-run", "--json"}},
			{"backup", []string{"backup", "-q", "--path", src}},
		} {
			cache := b.TempDir()
			b.ReportMetric(run(cache, c.args...).Seconds(), c.name+"-cold-s")
			b.ReportMetric(run(cache, c.args...).Seconds(), c.name+"-cached-s")
		}
		b.ReportMetric(float64(n), "snapshots")
	}
}
