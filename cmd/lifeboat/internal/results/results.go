// Package results holds the results lifeboat's commands print under
// --json, one type per message type (the "type" field, which the encoder
// adds before these fields). It is their schema: a program reading
// lifeboat's output, and the tests, decode into these. The messages a
// sidecar prints (summary, warning, error, status, event) are in package
// sidecar/protocol.
package results

import (
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/volumes"
)

// Init is "init".
type Init struct {
	ID       string `json:"id"`
	Location string `json:"location"`
	Version  int    `json:"version"`
}

// Forget is "forget".
type Forget struct {
	Removed []string `json:"removed"`
	DryRun  bool     `json:"dry_run"`
}

// Group is "group": forget's decisions for one group of snapshots.
type Group struct {
	Group     string       `json:"group"`
	Snapshots []GroupEntry `json:"snapshots"`
}

type GroupEntry struct {
	ID      string   `json:"id"`
	Time    string   `json:"time"`
	Keep    bool     `json:"keep"`
	Reasons []string `json:"reasons,omitempty"`
}

// Keys is "keys".
type Keys struct {
	Keys []repository.KeyInfo `json:"keys"`
}

// Key is "key_added", "key_changed" (Removed: the key the new one
// replaced) and "key_removed".
type Key struct {
	ID      string `json:"id"`
	Removed string `json:"removed,omitempty"`
}

// Snapshots is "snapshots".
type Snapshots struct {
	Snapshots []Snapshot `json:"snapshots"`
}

// Migrate is "migrate".
type Migrate struct {
	From    string             `json:"from"`
	To      string             `json:"to"`
	Volumes []volumes.Migrated `json:"volumes"`
	// Rounds of a live migration, the last one after the stop.
	Rounds          []volumes.Round `json:"rounds,omitempty"`
	DowntimeSeconds float64         `json:"downtime_seconds,omitempty"`
	Started         string          `json:"started,omitempty"` // the container started there
}

// Upgrade is "upgrade".
type Upgrade struct {
	Container       string            `json:"container"`
	Image           string            `json:"image"`
	OldContainer    string            `json:"old_container"`
	Volumes         map[string]string `json:"volumes"` // volume -> its fresh copy
	Copies          []volumes.Copied  `json:"copies"`
	DowntimeSeconds float64           `json:"downtime_seconds"`
}

// Rollback is "rollback".
type Rollback struct {
	Container   string   `json:"container"`
	KeptVolumes []string `json:"kept_volumes"`
}

// VolumePrune is "volume_prune" for a dry run or nothing to prune
// (a prune that removed volumes reports volumes.PruneResult).
type VolumePrune struct {
	DryRun  bool     `json:"dry_run"`
	Volumes []string `json:"volumes"`
}

// DiffStatistics is "statistics", the end of a diff.
type DiffStatistics struct {
	Added       int `json:"added"`
	Removed     int `json:"removed"`
	Modified    int `json:"modified"`
	Metadata    int `json:"metadata"`
	TypeChanged int `json:"type_changed"`
}

// Unlock is "unlock".
type Unlock struct {
	Removed int `json:"removed"`
}

// DryRun is "prune", "repair_index", "repair_snapshots" and
// "repair_packs": whether it was a dry run, and the library's report
// (prune.Report, repair.IndexReport, repair.SnapshotsReport,
// repair.PacksReport).
type DryRun[R any] struct {
	DryRun bool `json:"dry_run"`
	Report R    `json:"report"`
}

// Snapshot is one snapshot of "snapshots".
type Snapshot struct {
	ID         string                 `json:"id"`
	ShortID    string                 `json:"short_id"`
	Time       string                 `json:"time"`
	Host       string                 `json:"host"`
	Username   string                 `json:"username,omitempty"`
	Paths      []string               `json:"paths"`
	Tags       []string               `json:"tags"`
	Parent     string                 `json:"parent,omitempty"`
	Tree       string                 `json:"tree"`
	Incomplete bool                   `json:"incomplete"`
	Changed    []string               `json:"changed_while_read,omitempty"`
	Volume     *repository.VolumeInfo `json:"volume,omitempty"`
	Summary    repository.Summary     `json:"summary"`
}

// NewSnapshot is s as it is printed.
func NewSnapshot(s *repository.Snapshot) Snapshot {
	j := Snapshot{
		ID: s.ID.String(), ShortID: s.ID.Short(), Time: s.Time.Format("2006-01-02T15:04:05.000000000Z07:00"),
		Host: s.Host, Username: s.Username, Paths: s.Paths, Tags: s.Tags, Tree: s.Tree.String(),
		Incomplete: s.Incomplete, Changed: s.Changed, Summary: s.Summary, Volume: s.Volume,
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if s.Parent != nil {
		j.Parent = s.Parent.String()
	}
	return j
}

// ServiceMove is "service move".
type ServiceMove struct {
	Service string             `json:"service"`
	From    string             `json:"from"` // node hostnames
	To      string             `json:"to"`
	Volumes []volumes.Migrated `json:"volumes"`
	// Rounds of a live move, the last one after the scale to 0.
	Rounds          []volumes.Round `json:"rounds,omitempty"`
	DowntimeSeconds float64         `json:"downtime_seconds,omitempty"`
}

// ServiceStatus is "service status".
type ServiceStatus struct {
	Services []ServiceState `json:"services"`
}

// ServiceState is one followed service: the nodes its tasks run on and
// its volumes.
type ServiceState struct {
	Service string   `json:"service"`
	Nodes   []string `json:"nodes"`
	// Pinned: a constraint names its node; unpinned, a node failure starts
	// it on another node's empty volumes.
	Pinned  bool            `json:"pinned"`
	Volumes []ServiceVolume `json:"volumes"`
}

// ServiceVolume is a followed service's volume with its newest snapshot
// from the node it runs on, and a newer one from elsewhere.
type ServiceVolume struct {
	Volume    string        `json:"volume"`
	Last      *LastSnapshot `json:"last_on_node"`
	Elsewhere *LastSnapshot `json:"newer_elsewhere,omitempty"`
}

// LastSnapshot names a snapshot and says how old it is.
type LastSnapshot struct {
	ID         string  `json:"id"`
	ShortID    string  `json:"short_id"`
	Host       string  `json:"host"`
	Time       string  `json:"time"`
	AgeSeconds float64 `json:"age_seconds"`
}

// ServiceRecovery is "service recover".
type ServiceRecovery struct {
	Service string            `json:"service"`
	From    string            `json:"from"` // the node that is down
	To      string            `json:"to"`
	Volumes []RecoveredVolume `json:"volumes"`
}

// RecoveredVolume is a volume restored from its newest snapshot taken on
// the node that is down: its time is the recovery point.
type RecoveredVolume struct {
	Volume   string       `json:"volume"`
	Snapshot LastSnapshot `json:"snapshot"`
	Files    int64        `json:"files"`
	Bytes    int64        `json:"bytes"`
}
