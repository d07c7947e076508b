package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/configs"
	"github.com/lifeboat-backup/lifeboat/sidecar/protocol"
	"github.com/spf13/pflag"
)

// Every command line the protocol builds for a sidecar parses with
// lifeboat's own commands into what it means: a flag renamed on one side
// fails here, not in a sidecar on a user's engine.
func TestSidecarCommandLinesParse(t *testing.T) {
	repo := protocol.RepositoryFlags("/repository")
	repoFlags := map[string]string{configs.FlagRepo: "/repository", protocol.FlagInput: "true", configs.FlagJSON: "true", configs.FlagNoCache: "true"}
	with := func(m map[string]string, more map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	for _, tc := range []struct {
		line  []string
		cmd   string
		args  []string
		flags map[string]string // every flag the line sets, and its value
	}{
		{append(protocol.Batch(), repo...), protocol.CmdBatch, nil, repoFlags},
		{append(protocol.RestoreLine{Snapshot: "1f2e3d4c", Target: "/restore"}.Args(), repo...), configs.CmdRestore, []string{"1f2e3d4c"},
			with(repoFlags, map[string]string{configs.FlagTarget: "/restore"})},
		{append(protocol.RestoreLine{Snapshot: "1f2e3d4c", Target: "/restore", Overwrite: protocol.OverwriteAlways, Delete: true, KeepDamaged: true}.Args(), repo...),
			configs.CmdRestore, []string{"1f2e3d4c"},
			with(repoFlags, map[string]string{configs.FlagTarget: "/restore", configs.FlagOverwrite: "always", configs.FlagDelete: "true", configs.FlagKeepDamaged: "true"})},
		{append(protocol.RestoreLine{Snapshot: "1f2e3d4c", Target: "/restore", Overwrite: protocol.OverwriteIfChanged, Delete: true, Base: "9a8b7c6d"}.Args(), repo...),
			configs.CmdRestore, []string{"1f2e3d4c"},
			with(repoFlags, map[string]string{configs.FlagTarget: "/restore", configs.FlagOverwrite: "if-changed", configs.FlagDelete: "true", configs.FlagBase: "9a8b7c6d"})},
		{append(protocol.RestoreLine{OnInput: true, Target: "/restore", Overwrite: protocol.OverwriteIfChanged, Delete: true, Verify: true}.Args(), repo...),
			configs.CmdRestore, []string{"-"},
			with(repoFlags, map[string]string{configs.FlagTarget: "/restore", configs.FlagOverwrite: "if-changed", configs.FlagDelete: "true",
				protocol.FlagSnapshotOnInput: "true", configs.FlagVerify: "true"})},
		{protocol.Send("/volumes/data", false), protocol.CmdSend, nil, map[string]string{protocol.FlagPath: "/volumes/data"}},
		{protocol.Send("/volumes/data", true), protocol.CmdSend, nil, map[string]string{protocol.FlagPath: "/volumes/data", protocol.FlagAwaitGo: "true"}},
		{protocol.Receive("/restore", false), protocol.CmdReceive, nil, map[string]string{protocol.FlagTarget: "/restore"}},
		{protocol.Receive("/restore", true), protocol.CmdReceive, nil, map[string]string{protocol.FlagTarget: "/restore", protocol.FlagOverwrite: "true"}},
	} {
		t.Run(strings.Join(tc.line, " "), func(t *testing.T) {
			var out bytes.Buffer
			root := newRootCmd(&app{stdout: &out, stderr: &out, out: &output{}})
			cmd, rest, err := root.Find(tc.line)
			if err != nil || cmd.Name() != tc.cmd {
				t.Fatalf("found %q (%v), want %q", cmd.Name(), err, tc.cmd)
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Fatal(err)
			}
			args := cmd.Flags().Args()
			if err := cmd.ValidateArgs(args); err != nil || strings.Join(args, " ") != strings.Join(tc.args, " ") {
				t.Fatalf("arguments %q (%v), want %q", args, err, tc.args)
			}
			set := 0
			cmd.Flags().Visit(func(f *pflag.Flag) {
				set++
				want, ok := tc.flags[f.Name]
				if !ok || f.Value.String() != want {
					t.Errorf("--%s is %q, want %q (set: %v)", f.Name, f.Value.String(), want, ok)
				}
			})
			if set != len(tc.flags) {
				t.Errorf("the line sets %d flags, want %d: %v", set, len(tc.flags), tc.flags)
			}
		})
	}
}
