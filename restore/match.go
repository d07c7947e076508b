package restore

import (
	"path"
	"strings"
)

// Selector decides which snapshot paths a restore writes. Paths are
// slash-separated and start with "/" at the snapshot root. A pattern with
// a slash matches the whole path (path.Match syntax); one without matches
// any single name. An entry is selected when no include is given or it or
// one of its ancestors matches an include, and neither it nor an ancestor
// matches an exclude.
type Selector struct {
	Include, Exclude []string
}

// Validate checks the patterns' syntax.
func (s Selector) Validate() error {
	for _, p := range append(append([]string{}, s.Include...), s.Exclude...) {
		if _, err := path.Match(p, ""); err != nil {
			return &patternError{p}
		}
	}
	return nil
}

type patternError struct{ p string }

func (e *patternError) Error() string { return "invalid pattern " + e.p }

func matchOne(pattern, p string) bool {
	if strings.Contains(pattern, "/") {
		if !strings.HasPrefix(pattern, "/") {
			pattern = "/" + pattern
		}
		ok, _ := path.Match(strings.TrimSuffix(pattern, "/"), p)
		return ok
	}
	ok, _ := path.Match(pattern, path.Base(p))
	return ok
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if matchOne(pat, p) {
			return true
		}
	}
	return false
}

// Excluded reports whether p is excluded by itself (ancestors are the
// caller's business: the walk stops at an excluded directory).
func (s Selector) Excluded(p string) bool { return matchAny(s.Exclude, p) }

// Included reports whether p is included by itself.
func (s Selector) Included(p string) bool {
	return len(s.Include) == 0 || matchAny(s.Include, p)
}
