package gcs

import "hash/crc32"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the checksum GCS verifies on upload.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
