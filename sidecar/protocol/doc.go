// Package protocol is the protocol between lifeboat and the sidecars it
// starts: the command line a sidecar runs (commands.go), what the CLI writes
// to its standard input (input.go: the Input line, a batch's answers, a
// restore's order), and the messages it prints (messages.go). Every message
// is a type with one encoder and one decoder; no other package builds or
// parses these lines.
package protocol
