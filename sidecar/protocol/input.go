package protocol

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lifeboat-backup/lifeboat/repository"
)

// Input is what the CLI hands every sidecar before anything else: one JSON
// line at the start of its standard input. Secrets and settings files never
// pass through a path on the engine's host, so a sidecar gets them whether
// lifeboat runs on that host, in a container, or talks to a remote engine.
// The sidecar's lifeboat reads it when started with FlagInput.
type Input struct {
	Password []byte            `json:"password"`
	Files    map[string][]byte `json:"files,omitempty"` // path inside the sidecar -> content (credentials)
	Plan     *Plan             `json:"plan,omitempty"`  // for a batch backup
}

// maxInput bounds the input line (credential files are small).
const maxInput = 16 << 20

// WriteInput encodes in as one line.
func WriteInput(w io.Writer, in Input) error { return writeLine(w, in) }

// writeLine writes v as one line of JSON.
func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadInput decodes the input line from r; what follows it (a batch's
// answers, an import's stream) stays in r.
func ReadInput(r *bufio.Reader) (*Input, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, fmt.Errorf("sidecar input: %w", err)
		}
		line = append(line, chunk...)
		if len(line) > maxInput {
			return nil, errors.New("sidecar input: too long")
		}
		if !isPrefix {
			break
		}
	}
	var in Input
	if err := json.Unmarshal(line, &in); err != nil {
		return nil, fmt.Errorf("sidecar input: %w", err)
	}
	if len(in.Password) == 0 {
		return nil, errors.New("sidecar input: no password")
	}
	return &in, nil
}

// WriteFiles puts the input's files in place (mode 0600), inside the
// sidecar's own file system.
func (in *Input) WriteFiles() error {
	for p, data := range in.Files {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("sidecar input: file path %q is not absolute", p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("sidecar input: %w", err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return fmt.Errorf("sidecar input: %w", err)
		}
	}
	return nil
}

// Plan lists the volumes one batch sidecar backs up, each into its own
// snapshot.
type Plan struct {
	Host    string       `json:"host"`
	Tags    []string     `json:"tags,omitempty"`
	Volumes []PlanVolume `json:"volumes"`
}

// PlanVolume is one volume of a plan: where the sidecar sees it, and what
// its snapshot records.
type PlanVolume struct {
	Path string                `json:"path"`
	Info repository.VolumeInfo `json:"info"`
}

// A batch sidecar prints MsgVolumeReady before each volume of its Plan and
// reads one answer line: whether to back the volume up (the CLI outside
// has stopped or paused its users) or to skip it (a pre hook failed).
const (
	goAhead = "go"
	skip    = "skip"
)

// WriteAnswer writes the answer to a MsgVolumeReady.
func WriteAnswer(w io.Writer, proceed bool) error {
	a := skip
	if proceed {
		a = goAhead
	}
	_, err := fmt.Fprintln(w, a)
	return err
}

// ReadAnswer reads the answer to a MsgVolumeReady from the lines of the
// sidecar's input (after its Input line).
func ReadAnswer(lines *bufio.Scanner) (proceed bool, err error) {
	if !lines.Scan() {
		if err := lines.Err(); err != nil {
			return false, fmt.Errorf("sidecar input: %w", err)
		}
		return false, errors.New("sidecar input: no answer")
	}
	switch a := strings.TrimSpace(lines.Text()); a {
	case goAhead:
		return true, nil
	case skip:
		return false, nil
	default:
		return false, fmt.Errorf("sidecar input: %q is no answer", a)
	}
}

// RestoreOrder tells a restore sidecar started ahead of its snapshot (with
// RestoreLine.OnInput) what to restore: one JSON line on its standard
// input, after its Input. A sidecar whose input ends without one exits
// without touching its target.
type RestoreOrder struct {
	Snapshot string `json:"snapshot"`
	Base     string `json:"base,omitempty"` // a delta restore over this snapshot
}

// WriteOrder writes o as one line.
func WriteOrder(w io.Writer, o RestoreOrder) error { return writeLine(w, o) }

// ErrNoOrder is ReadOrder's error when the input ends without an order.
var ErrNoOrder = errors.New("sidecar input: no restore order")

// ReadOrder reads the order line; an input that ends first is ErrNoOrder.
func ReadOrder(r *bufio.Reader) (RestoreOrder, error) {
	line, err := r.ReadBytes('\n')
	if len(strings.TrimSpace(string(line))) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return RestoreOrder{}, ErrNoOrder
		}
		return RestoreOrder{}, fmt.Errorf("sidecar input: %w", err)
	}
	var o RestoreOrder
	if err := json.Unmarshal(line, &o); err != nil {
		return RestoreOrder{}, fmt.Errorf("sidecar input: restore order: %w", err)
	}
	if o.Snapshot == "" {
		return RestoreOrder{}, errors.New("sidecar input: a restore order without a snapshot")
	}
	return o, nil
}
