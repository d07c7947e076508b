package all_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/internal/targettest"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/all"
	"github.com/lifeboat-backup/lifeboat/targets/gcs"
	"github.com/lifeboat-backup/lifeboat/targets/retry"
	"github.com/lifeboat-backup/lifeboat/targets/s3"
)

// faultRate is the share of requests the proxy fails: more than the 10% of
// a throttling proxy that failed one command in seven before every request,
// the bucket check on opening included, went through the retry layer.
const faultRate = 0.2

// quickRetries retries as the default policy does, without its waits.
func quickRetries() *retry.Policy {
	p := retry.DefaultPolicy()
	p.Attempts, p.Base, p.Max = 12, time.Millisecond, 5*time.Millisecond
	return &p
}

// check requires that faults were injected and that requests got through.
func check(t *testing.T, p *testservers.FaultProxy) {
	t.Logf("%d requests failed by the proxy, %d passed", p.Injected.Load(), p.Passed.Load())
	if p.Injected.Load() == 0 || p.Passed.Load() == 0 {
		t.Fatal("the proxy injected no faults or passed no requests: the test tested nothing")
	}
}

// The S3 target, opened as the CLI opens it, passes the conformance suite
// behind a proxy that fails a fifth of the requests to versitygw.
func TestConformanceS3BehindFaults(t *testing.T) {
	srv := testservers.StartS3(t)
	proxy := testservers.StartFaultProxy(t, srv.Endpoint, faultRate, uint64(time.Now().UnixNano()), true)
	var n atomic.Int64
	targettest.Run(t, func(t *testing.T) targets.Target {
		bucket := srv.Bucket(t, fmt.Sprintf("faults-%d", n.Add(1)))
		tg, err := all.Open(context.Background(), "s3://"+bucket+"/repo", all.Options{
			S3: s3.Config{Endpoint: proxy.URL, PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
				MultipartThreshold: 6 << 20, PartSize: 5 << 20},
			Retry: quickRetries(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	})
	check(t, proxy)
}

// The same for the GCS target in front of fake-gcs-server.
func TestConformanceGCSBehindFaults(t *testing.T) {
	srv := testservers.StartGCS(t)
	proxy := testservers.StartFaultProxy(t, "http://"+srv.Host, faultRate, uint64(time.Now().UnixNano()), false)
	t.Setenv("STORAGE_EMULATOR_HOST", proxy.URL[len("http://"):])
	var n atomic.Int64
	targettest.Run(t, func(t *testing.T) targets.Target {
		bucket := srv.Bucket(t, fmt.Sprintf("faults-%d", n.Add(1)))
		tg, err := all.Open(context.Background(), "gs://"+bucket+"/repo", all.Options{GCS: gcs.Config{}, Retry: quickRetries()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.Close() })
		return tg
	})
	check(t, proxy)
}

// Opening is retried like every request: of many opens behind the proxy,
// none fails.
func TestOpenIsRetried(t *testing.T) {
	srv := testservers.StartS3(t)
	bucket := srv.Bucket(t, "open")
	proxy := testservers.StartFaultProxy(t, srv.Endpoint, 0.5, uint64(time.Now().UnixNano()), true)
	for i := 0; i < 40; i++ {
		tg, err := all.Open(context.Background(), "s3://"+bucket, all.Options{
			S3:    s3.Config{Endpoint: proxy.URL, PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey},
			Retry: quickRetries(),
		})
		if err != nil {
			t.Fatalf("open %d behind a proxy failing half the requests: %v", i, err)
		}
		tg.Close()
	}
	check(t, proxy)
}
