package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/lifeboat-backup/lifeboat/restore"
	"github.com/lifeboat-backup/lifeboat/snapshot"
	"golang.org/x/term"
)

// output prints results as text or, with --json, as one JSON object per
// line, each with a "type" field. Warnings and errors go to stderr in text
// mode and to stdout as JSON lines with --json.
type output struct {
	json   bool
	quiet  bool
	stdout io.Writer
	stderr io.Writer
	mu     sync.Mutex
}

// isTerminal reports whether w is a terminal (for progress bars and prompts).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// emit writes one JSON message: "type", then v's fields (messages.Encode,
// the one encoder of the messages a sidecar's CLI reads).
func (o *output) emit(typ string, v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := messages.Encode(o.stdout, typ, v); err != nil {
		_ = messages.Encode(o.stdout, messages.MsgError, messages.Failure{Message: err.Error(), ExitCode: exitError})
	}
}

// relay writes a message line that a sidecar printed, as it is.
func (o *output) relay(line []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.stdout, "%s\n", line)
}

// result prints a command's result: JSON, or the text that text() writes.
func (o *output) result(typ string, v any, text func(w io.Writer)) {
	if o.json {
		o.emit(typ, v)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	text(o.stdout)
}

// report prints what a command did: like result, but with --quiet and
// without --json it prints nothing (errors and warnings still go to
// stderr).
func (o *output) report(typ string, v any, text func(w io.Writer)) {
	if o.quiet && !o.json {
		return
	}
	o.result(typ, v, text)
}

// infof prints a line of text that only a person needs (not with --json
// or --quiet).
func (o *output) infof(format string, args ...any) {
	if o.json || o.quiet {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.stdout, format+"\n", args...)
}

// warn reports a problem that does not stop the command.
func (o *output) warn(path string, err error) {
	if o.json {
		w := messages.Warning{Path: path, Message: err.Error()}
		if errors.Is(err, snapshot.ErrChangedWhileRead) {
			w.Kind = messages.WarnChangedWhileRead
		}
		o.emit(messages.MsgWarning, w)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if path != "" {
		fmt.Fprintf(o.stderr, "warning: %s: %v\n", path, err)
	} else {
		fmt.Fprintf(o.stderr, "warning: %v\n", err)
	}
}

// fail reports the error that ends the command.
func (o *output) fail(err error, code int) {
	if o.json {
		f := messages.Failure{Message: err.Error(), ExitCode: code}
		if errors.Is(err, restore.ErrTargetNotEmpty) {
			f.Kind = messages.KindTargetNotEmpty
		}
		o.emit(messages.MsgError, f)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.stderr, "lifeboat: %v\n", err)
}
