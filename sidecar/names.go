package sidecar

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// ErrSyntax: a volume name, label selector, selection or engine address is
// malformed or contradictory; the command ran nothing (a usage error).
var ErrSyntax = errors.New("invalid")

// volumeName is Docker's syntax for names of local volumes.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateVolumeName checks a volume name against Docker's syntax, so that
// a path ("../etc") or a typo with a space is named as the mistake it is
// rather than sent to the engine.
func ValidateVolumeName(name string) error {
	if !volumeName.MatchString(name) {
		return fmt.Errorf("%w volume name %q: a volume name is letters, digits, '_', '.' and '-', starting with a letter or digit", ErrSyntax, name)
	}
	return nil
}

// ValidateLabelSelector checks a label selector: KEY or KEY=VALUE, the key
// not empty and without spaces or control characters.
func ValidateLabelSelector(sel string) error {
	key, value, _ := strings.Cut(sel, "=")
	bad := func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
	switch {
	case key == "":
		return fmt.Errorf("%w label %q: give KEY or KEY=VALUE, the key not empty", ErrSyntax, sel)
	case strings.IndexFunc(key, bad) >= 0:
		return fmt.Errorf("%w label %q: a label key has no spaces or control characters", ErrSyntax, sel)
	case strings.IndexFunc(value, unicode.IsControl) >= 0:
		return fmt.Errorf("%w label %q: a label value has no control characters", ErrSyntax, sel)
	}
	return nil
}

// Validate checks a selection before anything runs: --all stands alone
// (with anything else it would silently select everything), and every
// name and label selector is well formed.
func (s Selection) Validate() error {
	if s.All && (len(s.Names) > 0 || len(s.Labels) > 0 || s.Container != "" || s.Dangling) {
		return fmt.Errorf("%w selection: --all selects every volume; it cannot be combined with volume names, --label, --container or --dangling", ErrSyntax)
	}
	for _, n := range s.Names {
		if err := ValidateVolumeName(n); err != nil {
			return err
		}
	}
	for _, l := range s.Labels {
		if err := ValidateLabelSelector(l); err != nil {
			return err
		}
	}
	return nil
}

// engineSchemes are the engine address schemes lifeboat can reach.
var engineSchemes = []string{"unix", "tcp", "ssh", "http", "https", "npipe"}

// ValidateEngineAddress checks an engine address (DOCKER_HOST, --to,
// --from) before it is dialled.
func ValidateEngineAddress(host string) error {
	u, err := url.Parse(host)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("%w engine address %q: give unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST", ErrSyntax, host)
	}
	for _, s := range engineSchemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("%w engine address %q: lifeboat reaches an engine over unix://, tcp:// or ssh://, not %s://", ErrSyntax, host, u.Scheme)
}
