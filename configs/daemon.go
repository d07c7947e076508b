package configs

import (
	"fmt"
	"time"
)

// Daemon is the `daemon:` section of the config file.
type Daemon struct {
	// Listen is where HTTP serves the web page, /healthz and /metrics
	// (default 127.0.0.1:9123; "off": nowhere).
	Listen string `mapstructure:"listen"`
	Web    Web    `mapstructure:"web"`
	Notify Notify `mapstructure:"notify"`
	Jobs   []Job  `mapstructure:"jobs"`
}

// Web configures the daemon's page. On an address other than loopback it
// is served only with a password (PasswordFile, or LIFEBOAT_WEB_PASSWORD)
// or with Insecure; /healthz and /metrics are served either way.
type Web struct {
	PasswordFile string `mapstructure:"password-file"`
	ReadOnly     bool   `mapstructure:"read-only"`
	Insecure     bool   `mapstructure:"insecure"`
}

// Notify configures the webhook.
type Notify struct {
	URL       string            `mapstructure:"url"`
	Headers   map[string]string `mapstructure:"headers"`
	OnSuccess bool              `mapstructure:"on-success"`
}

// Job is one scheduled backup, or a maintenance job: one with nothing to
// back up and only a prune: or check: schedule (a fleet's one prune owner,
// a weekly check).
type Job struct {
	Name     string        `mapstructure:"name"`
	Schedule string        `mapstructure:"schedule"`
	Jitter   time.Duration `mapstructure:"jitter"`
	// What to back up: volumes (by name, label or all) or paths.
	Volumes []string `mapstructure:"volumes"`
	Labels  []string `mapstructure:"labels"`
	All     bool     `mapstructure:"all"`
	Paths   []string `mapstructure:"paths"`
	Tags    []string `mapstructure:"tags"`
	Keep    Keep     `mapstructure:"keep"`
	// Prune, a cron schedule, also runs prune (after forget) on it.
	Prune string `mapstructure:"prune"`
	// Check, a cron schedule, also runs check on it, reading and
	// authenticating the share of the packs CheckReadData gives ("5%",
	// "1/20"; none when empty: indexes, snapshots and trees only).
	Check         string `mapstructure:"check"`
	CheckReadData string `mapstructure:"check-read-data"`
}

// BacksUpNothing reports whether the job names nothing to back up.
func (j Job) BacksUpNothing() bool {
	return len(j.Volumes) == 0 && len(j.Labels) == 0 && !j.All && len(j.Paths) == 0
}

// Maintenance reports whether the job only prunes or checks.
func (j Job) Maintenance() bool {
	return j.BacksUpNothing() && (j.Prune != "" || j.Check != "")
}

// Keep is a retention policy (see lifeboat forget).
type Keep struct {
	Last     int           `mapstructure:"last"`
	Hourly   int           `mapstructure:"hourly"`
	Daily    int           `mapstructure:"daily"`
	Weekly   int           `mapstructure:"weekly"`
	Monthly  int           `mapstructure:"monthly"`
	Yearly   int           `mapstructure:"yearly"`
	Within   time.Duration `mapstructure:"within"`
	Tags     []string      `mapstructure:"tags"`
	PrePrune time.Duration `mapstructure:"pre-prune"`
}

// Empty reports whether the keep section keeps nothing by count, age or
// tag (pre-prune aside, which only ever keeps safety snapshots).
func (k Keep) Empty() bool {
	return k.Last == 0 && k.Hourly == 0 && k.Daily == 0 && k.Weekly == 0 && k.Monthly == 0 &&
		k.Yearly == 0 && k.Within == 0 && len(k.Tags) == 0
}

// Validate checks the daemon section's shape: every job named once, with a
// schedule and something to back up. What the values mean (a retention
// policy, volume names, tags) the layers that use them check.
func (d *Daemon) Validate() error {
	seen := map[string]bool{}
	for i, j := range d.Jobs {
		switch {
		case j.Name == "":
			return fmt.Errorf("daemon job %d has no name", i+1)
		case seen[j.Name]:
			return fmt.Errorf("daemon job %q is defined twice", j.Name)
		case j.CheckReadData != "" && j.Check == "":
			return fmt.Errorf("daemon job %q has check-read-data but no check: schedule", j.Name)
		case j.Maintenance() && (j.Schedule != "" || len(j.Tags) > 0 || !j.Keep.Empty()):
			return fmt.Errorf("daemon job %q backs up nothing, so it only prunes or checks on its prune: or check: schedule: leave out schedule, tags and keep", j.Name)
		case j.Maintenance():
		case j.Schedule == "":
			return fmt.Errorf("daemon job %q has no schedule", j.Name)
		case j.BacksUpNothing():
			return fmt.Errorf("daemon job %q backs up nothing: give volumes, labels, all or paths (or only prune: or check: for a maintenance job)", j.Name)
		case (len(j.Volumes) > 0 || len(j.Labels) > 0 || j.All) && len(j.Paths) > 0:
			return fmt.Errorf("daemon job %q: give volumes or paths, not both", j.Name)
		}
		seen[j.Name] = true
	}
	return nil
}
