// Package all opens a target from a repository location. It is the one
// place where the kinds of target are wired together.
package all

import (
	"context"
	"fmt"
	"strings"

	"github.com/lifeboat-backup/lifeboat/targets"
	"github.com/lifeboat-backup/lifeboat/targets/local"
)

// Open returns the target for a location: a directory path, or
// "local:PATH". Other schemes are reported as unsupported.
func Open(ctx context.Context, location string) (targets.Target, error) {
	_ = ctx
	switch {
	case location == "":
		return nil, fmt.Errorf("empty repository location")
	case strings.HasPrefix(location, "local:"):
		return local.New(strings.TrimPrefix(location, "local:"))
	case strings.Contains(location, "://"):
		scheme := location[:strings.Index(location, "://")]
		return nil, fmt.Errorf("repository location %q: the %s:// target is not available in this build", location, scheme)
	}
	return local.New(location)
}
