package targets

import (
	"fmt"
	"strings"
)

// Bucket is where an object-store target keeps its objects: a bucket and
// a prefix within it, parsed from SCHEME://BUCKET[/PREFIX].
type Bucket struct {
	Scheme, Name, Prefix string
}

// ParseBucket parses a location such as s3://backups/host1.
func ParseBucket(location, scheme string) (Bucket, error) {
	rest, ok := strings.CutPrefix(location, scheme+"://")
	if !ok {
		return Bucket{}, fmt.Errorf("repository location %q: want %s://BUCKET[/PREFIX]", location, scheme)
	}
	name, prefix, _ := strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if name == "" || strings.ContainsAny(name, " \\") {
		return Bucket{}, fmt.Errorf("repository location %q: missing or invalid bucket name", location)
	}
	return Bucket{Scheme: scheme, Name: name, Prefix: prefix}, nil
}

// Key is the object key of a target name.
func (b Bucket) Key(name string) string {
	if b.Prefix == "" {
		return name
	}
	return b.Prefix + "/" + name
}

// ObjectName is the target name of an object key (the inverse of Key).
func (b Bucket) ObjectName(key string) string {
	if b.Prefix == "" {
		return key
	}
	return strings.TrimPrefix(key, b.Prefix+"/")
}

// String is the location URL.
func (b Bucket) String() string {
	if b.Prefix == "" {
		return b.Scheme + "://" + b.Name
	}
	return b.Scheme + "://" + b.Name + "/" + b.Prefix
}
