package restore

import "os"

// PublishingName is the publishing directory's name, for tests that leave
// one as a killed restore would.
var PublishingName = publishingName

// WithBeforeVerify returns o with fn run between a restore's writes and
// their check, on the directory written into (the target or its staging
// directory).
func WithBeforeVerify(o Options, fn func(root *os.Root)) Options {
	o.beforeVerify = fn
	return o
}

// WithBatch returns o with batches of n operations.
func WithBatch(o Options, n int) Options {
	o.batch = n
	return o
}
