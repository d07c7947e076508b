module github.com/lifeboat-backup/lifeboat

go 1.26.8

require (
	github.com/zeebo/blake3 v0.2.4
	golang.org/x/crypto v0.59.0
)

require (
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/restic/chunker v0.5.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
