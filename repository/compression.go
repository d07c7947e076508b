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
	CompressionDefault Compression = iota // zstd's default level (3): smaller than restic's repositories at our speed targets
	CompressionFast                       // zstd's fastest level (1): about 1.5x the speed, 1-5% larger
	CompressionMax                        // zstd's best level (11): a few percent smaller, at a fifth of the speed
	CompressionOff                        // stored as read
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

// level is the zstd encoder level of c; false for CompressionOff.
func (c Compression) level() (zstd.EncoderLevel, bool) {
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
