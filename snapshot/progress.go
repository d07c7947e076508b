package snapshot

import "sync/atomic"

// Progress is a set of counters that the archiver updates while it runs and
// a display polls. All fields are safe for concurrent use.
type Progress struct {
	// Totals found by the scanner, which runs ahead of the backup for an ETA.
	TotalFiles, TotalBytes atomic.Int64
	ScanDone               atomic.Bool
	// Work done so far.
	FilesDone, BytesDone atomic.Int64 // files finished and their bytes (read or reused)
	BytesRead            atomic.Int64 // bytes actually read from disk
	// BytesMatched counts bytes of changed files found to be chunks of
	// their previous version (read and hashed, but neither cut nor saved).
	BytesMatched atomic.Int64
	Errors       atomic.Int64
}
