// Package testservers starts the real object stores that the tests talk to
// (versitygw for S3, fake-gcs-server for GCS) on 127.0.0.1, each in its own
// temporary directory, and stops them when the test ends. .ci/run installs
// both at pinned versions; without them a test is skipped, except under
// CI=true, where it fails.
package testservers

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Find locates a server binary on PATH or in GOPATH/bin.
func Find(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; .ci/run installs it", name)
	}
	t.Skipf("%s not installed (run .ci/run, or go install it)", name)
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a server until the test ends and waits until url answers.
func start(t testing.TB, url string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not come up at %s:\n%s", filepath.Base(bin), url, logs.String())
}

// S3 is a running versitygw.
type S3 struct {
	Endpoint             string
	AccessKey, SecretKey string
	// Dir is the posix backend's directory: object KEY of bucket B is the
	// file Dir/B/KEY (for tests that damage what is stored).
	Dir string
}

// StartS3 starts versitygw with a posix backend in a temporary directory.
func StartS3(t testing.TB) *S3 {
	t.Helper()
	bin := Find(t, "versitygw")
	port := freePort(t)
	s := &S3{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), AccessKey: "lifeboattest", SecretKey: "lifeboat-test-secret"}
	dir := t.TempDir()
	s.Dir = dir
	start(t, s.Endpoint+"/health", bin, "--port", fmt.Sprintf("127.0.0.1:%d", port),
		"--access", s.AccessKey, "--secret", s.SecretKey, "--health", "/health", "posix", dir)
	return s
}

// Client returns an S3 client for the server (path style, us-east-1).
func (s *S3) Client() *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// Bucket creates a bucket and returns its name.
func (s *S3) Bucket(t testing.TB, name string) string {
	t.Helper()
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// GCS is a running fake-gcs-server.
type GCS struct {
	Host string // host:port, for STORAGE_EMULATOR_HOST
}

// StartGCS starts fake-gcs-server in memory.
func StartGCS(t testing.TB) *GCS {
	t.Helper()
	bin := Find(t, "fake-gcs-server")
	port := freePort(t)
	g := &GCS{Host: fmt.Sprintf("127.0.0.1:%d", port)}
	start(t, "http://"+g.Host+"/storage/v1/b", bin, "-scheme", "http", "-host", "127.0.0.1",
		"-port", fmt.Sprint(port), "-external-url", "http://"+g.Host, "-public-host", g.Host, "-backend", "memory",
		"-log-level", "error")
	return g
}

// Bucket creates a bucket through the JSON API and returns its name.
func (g *GCS) Bucket(t testing.TB, name string) string {
	t.Helper()
	resp, err := http.Post("http://"+g.Host+"/storage/v1/b?project=test", "application/json",
		strings.NewReader(fmt.Sprintf(`{"name":%q}`, name)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create bucket %s: %s", name, resp.Status)
	}
	return name
}

// FaultProxy forwards HTTP requests to upstream (http://host:port) from a
// port of its own on 127.0.0.1, and fails a share of them before they reach
// the server: half answered 503 SlowDown, half cut by closing the
// connection. No request that reached the server loses its reply, so a
// retried write never meets its own first attempt.
type FaultProxy struct {
	URL      string // http://127.0.0.1:port
	Injected atomic.Int64
	Passed   atomic.Int64
}

// StartFaultProxy starts a proxy until the test ends. With keepHost the
// upstream sees the proxy's address as Host (S3 signs it); without, the
// upstream's own (fake-gcs-server serves reads only to its public host).
// The random source is seeded from seed; the test logs it.
func StartFaultProxy(t testing.TB, upstream string, rate float64, seed uint64, keepHost bool) *FaultProxy {
	t.Helper()
	t.Logf("fault proxy for %s: rate %.2f, seed %d", upstream, rate, seed)
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		if keepHost {
			r.Out.Host = r.In.Host
		}
	}}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 7))
	roll := func() float64 { mu.Lock(); defer mu.Unlock(); return rng.Float64() }
	p := &FaultProxy{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.URL = "http://" + l.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch x := roll(); {
		case x < rate/2:
			p.Injected.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>`)
		case x < rate:
			p.Injected.Add(1)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
		default:
			p.Passed.Add(1)
			rp.ServeHTTP(w, r)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}
