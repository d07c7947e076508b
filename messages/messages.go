package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/restore"
)

// The types of message. Encode is the one encoder, Decode the one
// decoder: no other code writes or parses these lines.
const (
	MsgVolumeReady = "volume_ready" // VolumeReady: a batch waits for GoAhead or Skip
	MsgVolumeError = "volume_error" // VolumeError: one volume of a batch failed
	MsgSummary     = "summary"      // BackupSummary or RestoreSummary
	MsgWarning     = "warning"      // Warning
	MsgError       = "error"        // Failure: the command failed
	MsgStatus      = "status"       // Status: progress
	MsgEvent       = "event"        // Event: consistency handling
)

// VolumeReady announces the next volume of a batch.
type VolumeReady struct {
	Volume string `json:"volume"`
}

// VolumeError reports a volume of a batch that failed.
type VolumeError struct {
	Volume  string `json:"volume"`
	Message string `json:"message"`
}

// BackupSummary ends a backup that saved a snapshot.
type BackupSummary struct {
	SnapshotID string             `json:"snapshot_id"`
	Incomplete bool               `json:"incomplete"`
	Summary    repository.Summary `json:"summary"`
}

// RestoreSummary ends a restore.
type RestoreSummary struct {
	SnapshotID      string         `json:"snapshot_id"`
	Target          string         `json:"target"`
	Result          restore.Result `json:"result"`
	DurationSeconds float64        `json:"duration_seconds"`
}

// Warning is a problem that did not stop the command. Kind, when set,
// says what kind of problem, for a program that reacts to it.
type Warning struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Kind    string `json:"kind,omitempty"`
}

// Kinds of Warning.
const (
	WarnChangedWhileRead = "changed_while_read" // snapshot.ErrChangedWhileRead
)

// Failure is the error that ended the command. Kind, when set, says what
// kind of failure it was, for a program that reacts to it (never match
// Message).
type Failure struct {
	Message  string `json:"message"`
	ExitCode int    `json:"exit_code"`
	Kind     string `json:"kind,omitempty"`
}

// Kinds of Failure.
const (
	KindTargetNotEmpty = "target_not_empty" // restore.ErrTargetNotEmpty
)

// Event is one thing the consistency handling did, for the user's log: an
// operator can see from it when an application was stopped and for how
// long.
type Event struct {
	Time      time.Time     `json:"time"`
	Action    string        `json:"action"`
	Volume    string        `json:"volume,omitempty"`
	Container string        `json:"container,omitempty"`
	Message   string        `json:"message"`
	Warning   bool          `json:"warning,omitempty"`
	Down      time.Duration `json:"-"`
	DownSecs  float64       `json:"down_seconds,omitempty"`
}

// Status is a progress report.
type Status struct {
	Action         string   `json:"action"`
	FilesDone      int64    `json:"files_done"`
	BytesDone      int64    `json:"bytes_done"`
	Errors         int64    `json:"errors"`
	SecondsElapsed int      `json:"seconds_elapsed"`
	TotalFiles     *int64   `json:"total_files,omitempty"` // set once the total is known
	TotalBytes     *int64   `json:"total_bytes,omitempty"`
	PercentDone    *float64 `json:"percent_done,omitempty"`
}

// Encode writes v as one message line of type typ: "type" first, then v's
// fields (a v that is not an object goes under "data").
func Encode(w io.Writer, typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
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
	_, err = w.Write(append(line, '\n'))
	return err
}

// Message is a decoded line: Type, and the fields of the kind it names
// (the others stay zero).
type Message struct {
	Type     string
	Ready    VolumeReady
	Failed   VolumeError
	Backup   BackupSummary
	Restore  RestoreSummary
	Warning  Warning
	Failure  Failure
	Status   Status
	Event    Event
	IsBackup bool // a summary of a backup (else of a restore)
}

// Decode reads one message line. A line that is not a message is an error.
func Decode(line []byte) (Message, error) {
	var head struct {
		Type   string          `json:"type"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return Message{}, fmt.Errorf("message: %w", err)
	}
	m := Message{Type: head.Type}
	var into any
	switch head.Type {
	case MsgVolumeReady:
		into = &m.Ready
	case MsgVolumeError:
		into = &m.Failed
	case MsgSummary:
		if m.IsBackup = len(bytes.TrimSpace(head.Result)) == 0; m.IsBackup {
			into = &m.Backup
		} else {
			into = &m.Restore
		}
	case MsgWarning:
		into = &m.Warning
	case MsgError:
		into = &m.Failure
	case MsgStatus:
		into = &m.Status
	case MsgEvent:
		into = &m.Event
	default:
		return m, nil // a message the CLI only relays
	}
	if err := json.Unmarshal(line, into); err != nil {
		return m, fmt.Errorf("message %s: %w", head.Type, err)
	}
	return m, nil
}
