package messages

import (
	"bytes"
	"testing"
)

// Every message type goes through Encode and back through Decode.
func TestMessagesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		v     any
		check func(Message) bool
	}{
		{MsgVolumeReady, VolumeReady{Volume: "v"}, func(m Message) bool { return m.Ready.Volume == "v" }},
		{MsgVolumeError, VolumeError{Volume: "v", Message: "m"}, func(m Message) bool { return m.Failed.Message == "m" }},
		{MsgSummary, BackupSummary{SnapshotID: "s", Incomplete: true}, func(m Message) bool { return m.IsBackup && m.Backup.Incomplete }},
		{MsgSummary, RestoreSummary{SnapshotID: "s", Target: "/t"}, func(m Message) bool { return !m.IsBackup && m.Restore.Target == "/t" }},
		{MsgWarning, Warning{Path: "p", Kind: WarnChangedWhileRead}, func(m Message) bool { return m.Warning.Kind == WarnChangedWhileRead }},
		{MsgError, Failure{Message: "m", ExitCode: ExitLocked, Kind: KindTargetNotEmpty}, func(m Message) bool { return m.Failure.ExitCode == ExitLocked }},
		{MsgStatus, Status{Action: "backup", FilesDone: 3}, func(m Message) bool { return m.Status.FilesDone == 3 }},
		{MsgEvent, Event{Action: "stop", Container: "c", DownSecs: 1.5}, func(m Message) bool { return m.Event.Container == "c" && m.Event.DownSecs == 1.5 }},
	} {
		var b bytes.Buffer
		if err := Encode(&b, tc.typ, tc.v); err != nil {
			t.Fatal(err)
		}
		m, err := Decode(bytes.TrimSpace(b.Bytes()))
		if err != nil || m.Type != tc.typ || !tc.check(m) {
			t.Errorf("%s %+v: decoded %v %+v", tc.typ, tc.v, err, m)
		}
	}
}
