package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/targettest"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/s3"
)

func newTarget(t *testing.T, srv *testservers.S3, bucket, prefix string, mutate func(*s3.Config)) (*s3.Target, error) {
	cfg := s3.Config{Bucket: targets.Bucket{Scheme: "s3", Name: bucket, Prefix: prefix}, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, MultipartThreshold: 6 << 20, PartSize: 5 << 20}
	if mutate != nil {
		mutate(&cfg)
	}
	return s3.New(context.Background(), cfg)
}

func TestConformanceVersitygw(t *testing.T) {
	srv := testservers.StartS3(t)
	var n atomic.Int64
	targettest.Run(t, func(t *testing.T) targets.Target {
		bucket := srv.Bucket(t, fmt.Sprintf("conf-%d", n.Add(1)))
		tg, err := newTarget(t, srv, bucket, "repo/one", nil)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	})
}

// Objects above the multipart threshold go up in parts and keep the
// exclusive-create contract.
func TestMultipart(t *testing.T) {
	srv := testservers.StartS3(t)
	tg, err := newTarget(t, srv, srv.Bucket(t, "multipart"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte(strings.Repeat("0123456789abcdef", 1<<20)) // 16 MiB, 4 parts
	if err := tg.PutIfAbsent(ctx, "big", data); err != nil {
		t.Fatal(err)
	}
	got, err := targets.ReadAll(ctx, tg, "big")
	if err != nil || string(got) != string(data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	if err := tg.PutIfAbsent(ctx, "big", data); !errors.Is(err, targets.ErrAlreadyExists) {
		t.Fatalf("second multipart PutIfAbsent: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	srv := testservers.StartS3(t)
	bucket := srv.Bucket(t, "exists")
	if _, err := newTarget(t, srv, "missing-bucket", "", nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing bucket: %v", err)
	}
	_, err := newTarget(t, srv, bucket, "", func(c *s3.Config) { c.SecretKey = "wrong" })
	if !errors.Is(err, targets.ErrPermission) {
		t.Fatalf("wrong secret: %v", err)
	}
	_, err = newTarget(t, srv, bucket, "", func(c *s3.Config) { c.Endpoint = "http://127.0.0.1:1" })
	if err == nil {
		t.Fatal("unreachable endpoint accepted")
	}
}

// An object damaged in the store (a byte flipped in versitygw's backend
// file) fails the SDK's checksum on a whole read: that is ErrCorrupt, not
// an unexplained error, and ReadStored still gets its bytes, as stored,
// for a caller that authenticates them itself.
func TestDamageInTheStore(t *testing.T) {
	srv := testservers.StartS3(t)
	tg, err := newTarget(t, srv, srv.Bucket(t, "rot"), "repo", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := []byte(strings.Repeat("pages of a database ", 5000))
	if err := tg.Put(ctx, "data/ab/pack", data); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(srv.Dir, "rot", "repo", "data", "ab", "pack")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := targets.ReadAll(ctx, tg, "data/ab/pack"); !errors.Is(err, targets.ErrCorrupt) {
		t.Fatalf("whole read of a damaged object: %v, want ErrCorrupt", err)
	}
	got, err := targets.ReadStored(ctx, tg, "data/ab/pack")
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("ReadStored: %d bytes, equal to the stored ones: %v, %v", len(got), bytes.Equal(got, b), err)
	}
}
