// Command lifeboat backs up, restores and moves Docker named volumes and
// plain directories into an encrypted, deduplicating repository.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	// Most of lifeboat's heap is pooled pack and chunk buffers that stay
	// live, and little garbage is made per byte; collecting at 25% growth
	// instead of 100% trims peak RSS by about a third at no measurable
	// cost in speed (measured with GOGC=100/50/25 on a 1.5 GiB backup).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	args, answered := pluginArgs(os.Args[0], os.Args[1:], os.Stdout, version)
	if answered {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &app{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv: os.Getenv, environ: os.Environ, version: version,
	}, args)
	stop()
	os.Exit(code)
}
