package repository

import (
	"fmt"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Compression is how hard new blobs are compressed. It is a choice of each
// run, not of the repository: blobs record whether they are compressed, so
// every setting reads every blob, and a change applies to what is stored
// from then on.
type Compression int

// The settings, named as on the command line. The zero value is the
// default, so that Options{} compresses as the CLI does.
const (
	// CompressionDefault: trees at zstd level 3, file data at level 1.
	CompressionDefault Compression = iota
	CompressionFast                // zstd level 1 for everything
	CompressionMax                 // zstd level 11 (best) for everything: about 1.5% smaller, at a third of the speed
	CompressionOff                 // stored as read
)

var compressionNames = map[Compression]string{
	CompressionDefault: "default", CompressionFast: "fast", CompressionMax: "max", CompressionOff: "off",
}

// CompressionNames lists the settings in the order of --help.
const CompressionNames = "off, fast, default or max"

// ParseCompression reads a setting's name; "" is the default.
func ParseCompression(s string) (Compression, error) {
	if s == "" {
		return CompressionDefault, nil
	}
	for c, name := range compressionNames {
		if strings.EqualFold(s, name) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("compression must be %s, not %q", CompressionNames, s)
}

func (c Compression) String() string {
	if name, ok := compressionNames[c]; ok {
		return name
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// treeLevel is the zstd level of c for trees; false: stored uncompressed.
func (c Compression) treeLevel() (zstd.EncoderLevel, bool) {
	switch c {
	case CompressionFast:
		return zstd.SpeedFastest, true
	case CompressionMax:
		return zstd.SpeedBestCompression, true
	case CompressionOff:
		return 0, false
	default:
		return zstd.SpeedDefault, true
	}
}

// dataLevel is the zstd level of c for file data. The default takes the
// fastest level there: level 3 saves about 5% on small source files and
// 2% on log text in 32 KiB pieces, for about twice the compression time,
// which made a first backup of the harness's data set miss half of
// restic's time (docs/benchmarks.md).
func (c Compression) dataLevel() (zstd.EncoderLevel, bool) {
	if c == CompressionDefault {
		return zstd.SpeedFastest, true
	}
	return c.treeLevel()
}
