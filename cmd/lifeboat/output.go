package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

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

// emit writes one JSON message: v's fields plus "type".
func (o *output) emit(typ string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	// "type" goes first; the message's own fields keep their order.
	t, _ := json.Marshal(typ)
	var line []byte
	switch {
	case string(b) == "{}":
		line = fmt.Appendf(nil, `{"type":%s}`, t)
	case len(b) > 1 && b[0] == '{':
		line = fmt.Appendf(nil, `{"type":%s,%s`, t, b[1:])
	default:
		line = fmt.Appendf(nil, `{"type":%s,"data":%s}`, t, b)
	}
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
		o.emit("warning", map[string]string{"path": path, "message": err.Error()})
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
		o.emit("error", map[string]any{"message": err.Error(), "exit_code": code})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.stderr, "lifeboat: %v\n", err)
}

// plural writes a count with the singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
