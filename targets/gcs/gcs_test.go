package gcs_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/targettest"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/gcs"
)

func TestConformanceFakeGCS(t *testing.T) {
	srv := testservers.StartGCS(t)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.Host)
	var n atomic.Int64
	targettest.Run(t, func(t *testing.T) targets.Target {
		bucket := srv.Bucket(t, fmt.Sprintf("conf-%d", n.Add(1)))
		tg, err := gcs.New(context.Background(), gcs.Config{Bucket: targets.Bucket{Scheme: "gs", Name: bucket, Prefix: "repo"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tg.Close() })
		return tg
	})
}

func TestBadInput(t *testing.T) {
	srv := testservers.StartGCS(t)
	t.Setenv("STORAGE_EMULATOR_HOST", srv.Host)
	if _, err := gcs.New(context.Background(), gcs.Config{Bucket: targets.Bucket{Scheme: "gs", Name: "nope"}}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing bucket: %v", err)
	}
}
