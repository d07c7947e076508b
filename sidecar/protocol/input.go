package sidecar

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Input is what the CLI hands every sidecar before anything else: one JSON
// line at the start of its standard input. Secrets and settings files never
// pass through a path on the engine's host, so a sidecar gets them whether
// lifeboat runs on that host, in a container, or talks to a remote engine.
// The sidecar's lifeboat reads it when started with InputFlag.
type Input struct {
	Password []byte            `json:"password"`
	Files    map[string][]byte `json:"files,omitempty"` // path inside the sidecar -> content (credentials)
	Plan     *Plan             `json:"plan,omitempty"`  // for a batch backup
}

// InputFlag makes the sidecar's lifeboat read its Input first.
const InputFlag = "--sidecar-input"

// maxInput bounds the input line (credential files are small).
const maxInput = 16 << 20

// WriteInput encodes in as one line.
func WriteInput(w io.Writer, in Input) error {
	b, err := json.Marshal(in)
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
