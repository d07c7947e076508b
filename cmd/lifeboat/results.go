package main

import (
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/volumes"
)

// The results that commands print under --json, one type per message
// type (the "type" field, which the encoder adds before these fields).
// This file is their schema: a program reading lifeboat's output, and the
// tests, decode into these. The messages a sidecar prints (summary,
// warning, error, status, event) are in package sidecar/protocol.

// initResult is "init".
type initResult struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	Version  int    `json:"version"`
}

// forgetResult is "forget".
type forgetResult struct {
	Removed []string `json:"removed"`
	DryRun  bool     `json:"dry_run"`
}

// groupResult is "group": forget's decisions for one group of snapshots.
type groupResult struct {
	Group     string       `json:"group"`
	Snapshots []groupEntry `json:"snapshots"`
}

type groupEntry struct {
	ID      string   `json:"id"`
	Time    string   `json:"time"`
	Keep    bool     `json:"keep"`
	Reasons []string `json:"reasons,omitempty"`
}

// keysResult is "keys".
type keysResult struct {
	Keys []repository.KeyInfo `json:"keys"`
}

// keyResult is "key_added", "key_changed" (Removed: the key the new one
// replaced) and "key_removed".
type keyResult struct {
	ID      string `json:"id"`
	Removed string `json:"removed,omitempty"`
}

// snapshotsResult is "snapshots".
type snapshotsResult struct {
	Snapshots []snapshotJSON `json:"snapshots"`
}

// migrateResult is "migrate".
type migrateResult struct {
	From    string             `json:"from"`
	To      string             `json:"to"`
	Volumes []volumes.Migrated `json:"volumes"`
	// Rounds of a live migration, the last one after the stop.
	Rounds          []volumes.Round `json:"rounds,omitempty"`
	DowntimeSeconds float64         `json:"downtime_seconds,omitempty"`
	Started         string          `json:"started,omitempty"` // the container started there
}

// upgradeResult is "upgrade".
type upgradeResult struct {
	Container       string            `json:"container"`
	Image           string            `json:"image"`
	OldContainer    string            `json:"old_container"`
	Volumes         map[string]string `json:"volumes"` // volume -> its fresh copy
	Copies          []volumes.Copied  `json:"copies"`
	DowntimeSeconds float64           `json:"downtime_seconds"`
}

// rollbackResult is "rollback".
type rollbackResult struct {
	Container   string   `json:"container"`
	KeptVolumes []string `json:"kept_volumes"`
}

// volumePruneResult is "volume_prune" for a dry run or nothing to prune
// (a prune that removed volumes reports volumes.PruneResult).
type volumePruneResult struct {
	DryRun  bool     `json:"dry_run"`
	Volumes []string `json:"volumes"`
}

// diffStatistics is "statistics", the end of a diff.
type diffStatistics struct {
	Added       int `json:"added"`
	Removed     int `json:"removed"`
	Modified    int `json:"modified"`
	Metadata    int `json:"metadata"`
	TypeChanged int `json:"type_changed"`
}

// unlockResult is "unlock".
type unlockResult struct {
	Removed int `json:"removed"`
}

// dryRunReport is "prune", "repair_index", "repair_snapshots" and
// "repair_packs": whether it was a dry run, and the library's report
// (prune.Report, repair.IndexReport, repair.SnapshotsReport,
// repair.PacksReport).
type dryRunReport[R any] struct {
	DryRun bool `json:"dry_run"`
	Report R    `json:"report"`
}
