// Package all opens a target from a repository location. It is the one
// place where the kinds of target and the layers over them are wired:
// store → concurrency limit → retry.
package all

import (
	"context"
	"fmt"
	"strings"

	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/gcs"
	"github.com/lifeboat-backup/lifeboat/targets/limit"
	"github.com/lifeboat-backup/lifeboat/targets/local"
	"github.com/lifeboat-backup/lifeboat/targets/retry"
	"github.com/lifeboat-backup/lifeboat/targets/s3"
)

// Options carry the settings of every kind of target; each kind reads its own.
type Options struct {
	S3          s3.Config  // Bucket comes from the location
	GCS         gcs.Config // likewise
	Connections int        // concurrent requests to a cloud store (default 8)
	Retry       *retry.Policy
}

// Open returns the target for a location: a directory path ("local:PATH"
// also works), s3://BUCKET[/PREFIX] or gs://BUCKET[/PREFIX].
func Open(ctx context.Context, location string, o Options) (targets.Target, error) {
	policy := retry.DefaultPolicy()
	if o.Retry != nil {
		policy = *o.Retry
	}
	conns := o.Connections
	if conns <= 0 {
		conns = 8
	}
	switch {
	case location == "":
		return nil, fmt.Errorf("empty repository location")
	case strings.HasPrefix(location, "s3://"):
		bucket, err := targets.ParseBucket(location, "s3")
		if err != nil {
			return nil, err
		}
		cfg := o.S3
		cfg.Bucket = bucket
		// The bucket check on opening is a request like any other: one
		// 503 or dropped connection must not fail the command.
		var t *s3.Target
		err = policy.Do(ctx, "open "+location, func() (err error) { t, err = s3.New(ctx, cfg); return err })
		if err != nil {
			return nil, err
		}
		return retry.Wrap(limit.Wrap(t, conns), policy), nil
	case strings.HasPrefix(location, "gs://"):
		bucket, err := targets.ParseBucket(location, "gs")
		if err != nil {
			return nil, err
		}
		cfg := o.GCS
		cfg.Bucket = bucket
		var t *gcs.Target
		err = policy.Do(ctx, "open "+location, func() (err error) { t, err = gcs.New(ctx, cfg); return err })
		if err != nil {
			return nil, err
		}
		return retry.Wrap(limit.Wrap(t, conns), policy), nil
	case strings.HasPrefix(location, "local:"):
		return local.New(strings.TrimPrefix(location, "local:"))
	case strings.Contains(location, "://"):
		scheme, _, _ := strings.Cut(location, "://")
		return nil, fmt.Errorf("repository location %q: unknown scheme %q (use a directory, s3:// or gs://)", location, scheme)
	}
	return local.New(location)
}
