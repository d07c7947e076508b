// Package messages is lifeboat's machine-readable output: with --json
// every command prints JSON lines, each an object whose "type" field names
// one of the types here, and ends with one of the exit codes here.
//
// The same lines pass between lifeboat and its sidecars, because a sidecar
// is lifeboat run with --json: the CLI reads its sidecars' output with
// Decode, and relays it unchanged to a script that asked for --json. A
// script therefore reads the same messages from lifeboat as lifeboat reads
// from its sidecars. What only the CLI and its sidecars exchange (their
// command lines, what goes into a sidecar's standard input) is
// sidecar/protocol.
package messages
