// Command lifeboat backs up, restores and moves Docker named volumes and
// plain directories into an encrypted, deduplicating repository.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &app{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, version: version,
	}, os.Args[1:])
	stop()
	os.Exit(code)
}
