package main

import (
	"fmt"

	"github.com/lifeboat-backup/lifeboat/configs"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/repository/checker"
	"github.com/lifeboat-backup/lifeboat/repository/retention"
	"github.com/lifeboat-backup/lifeboat/volumes"
)

// The configuration is plain data (package configs); here it becomes the
// layers' types, each value checked by the rule of the layer that uses it.
// checkSettings runs once the configuration is loaded, so that a wrong
// value fails every command, as a wrong flag does.
func checkSettings(cfg *configs.Config) error {
	if _, err := repository.ParseCompression(cfg.Compression); err != nil {
		return err
	}
	for _, j := range cfg.Daemon.Jobs {
		if err := keepPolicy(j.Keep).Validate(); err != nil {
			return fmt.Errorf("daemon job %q: %w", j.Name, err)
		}
		if err := jobSelection(j).Validate(); err != nil {
			return fmt.Errorf("daemon job %q: %w", j.Name, err)
		}
		if err := repository.ValidateTags(j.Tags); err != nil {
			return fmt.Errorf("daemon job %q: %w", j.Name, err)
		}
		if j.CheckReadData != "" {
			if _, err := checker.ParseSubset(j.CheckReadData); err != nil {
				return fmt.Errorf("daemon job %q: check-read-data %w", j.Name, err)
			}
		}
	}
	return nil
}

// compression is the configured compression, checked by checkSettings.
func compression(cfg *configs.Config) repository.Compression {
	c, _ := repository.ParseCompression(cfg.Compression)
	return c
}

// keepPolicy is the retention policy a job's keep section describes.
func keepPolicy(k configs.Keep) retention.Policy {
	p := retention.Policy{Last: k.Last, Hourly: k.Hourly, Daily: k.Daily, Weekly: k.Weekly, Monthly: k.Monthly,
		Yearly: k.Yearly, Within: k.Within, Tags: k.Tags, PrePrune: k.PrePrune}
	if p.PrePrune == 0 {
		p.PrePrune = retention.DefaultPrePrune
	}
	return p
}

// jobSelection is the volumes a job backs up.
func jobSelection(j configs.Job) volumes.Selection {
	return volumes.Selection{Names: j.Volumes, Labels: j.Labels, All: j.All}
}
