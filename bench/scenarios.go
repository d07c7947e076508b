package main

import (
	"fmt"
	"path/filepath"
)

// The phases of the mixed scenario, in the order of the report.
const (
	phaseFirst     = "first backup"
	phaseUnchanged = "unchanged backup"
	phaseChanged   = "backup after change"
	phaseRestore   = "restore"
	phaseDB        = "backup after 1% of pages rewritten"
	phaseSmall     = "restore of many small files"
)

var mixedPhases = []string{phaseFirst, phaseUnchanged, phaseChanged, phaseRestore}

// compressionSettings are lifeboat's --compression settings, in the order
// of the report; the default's row is the mixed scenario's first backup.
var compressionSettings = []string{"off", "fast", "default", "max"}

func compressionPhase(setting string) string { return "first backup, --compression " + setting }

// mixed measures the four phases on the mixed data set at src, and then
// changes it (the change phase).
func (b *bench) mixed(src string, s sizes) error {
	err := b.each(func(i int, t *tool) error {
		repo := b.repo("mixed", t, i)
		if _, err := t.exec(repo, t.init...); err != nil {
			return fmt.Errorf("%s init: %w", t.name, err)
		}
		return b.measure(phaseFirst, t, repo, t.backup(src))
	})
	if err != nil {
		return err
	}
	if err := b.each(func(i int, t *tool) error { return b.measure(phaseUnchanged, t, b.repo("mixed", t, i), t.backup(src)) }); err != nil {
		return err
	}
	if err := change(src, s); err != nil {
		return fmt.Errorf("change: %w", err)
	}
	if err := b.each(func(i int, t *tool) error { return b.measure(phaseChanged, t, b.repo("mixed", t, i), t.backup(src)) }); err != nil {
		return err
	}
	want, err := digest(src)
	if err != nil {
		return err
	}
	return b.each(func(i int, t *tool) error {
		return b.restoreChecked(phaseRestore, t, b.repo("mixed", t, i), src, want, i)
	})
}

// compression measures lifeboat's first backup of src at each setting but
// the default.
func (b *bench) compression(src string) error {
	lb := b.tools[0]
	for _, setting := range compressionSettings {
		if setting == "default" {
			continue
		}
		for i := range b.runs {
			repo := filepath.Join(b.work, fmt.Sprintf("repo-compression-%s-%d", setting, i+1))
			if _, err := lb.exec(repo, lb.init...); err != nil {
				return fmt.Errorf("lifeboat init: %w", err)
			}
			if err := b.measure(compressionPhase(setting), lb, repo, append(lb.backup(src), "--compression", setting)); err != nil {
				return err
			}
		}
	}
	return nil
}

// database backs up a database-like file of size bytes, rewrites 1% of
// its pages at random, and measures the next backup: in each run, every
// tool backs up the same file before and after the same change.
func (b *bench) database(dir string, size int64) error {
	if err := generateDB(dir, size); err != nil {
		return fmt.Errorf("generate the database: %w", err)
	}
	for i := range b.runs {
		for k := range b.tools {
			t := b.tools[(i+k)%len(b.tools)]
			repo := b.repo("db", t, i)
			if _, err := t.exec(repo, t.init...); err != nil {
				return fmt.Errorf("%s init: %w", t.name, err)
			}
			if _, err := t.exec(repo, t.backup(dir)...); err != nil {
				return fmt.Errorf("%s backup of the database: %w", t.name, err)
			}
		}
		if err := changeDB(dir, i); err != nil {
			return fmt.Errorf("change the database: %w", err)
		}
		for k := range b.tools {
			t := b.tools[(i+k)%len(b.tools)]
			if err := b.measure(phaseDB, t, b.repo("db", t, i), t.backup(dir)); err != nil {
				return err
			}
		}
	}
	return nil
}

// smallFiles backs src up once with each tool and measures its restore.
func (b *bench) smallFiles(src string) error {
	want, err := digest(src)
	if err != nil {
		return err
	}
	for _, t := range b.tools {
		repo := b.repo("small", t, 0)
		if _, err := t.exec(repo, t.init...); err != nil {
			return fmt.Errorf("%s init: %w", t.name, err)
		}
		if _, err := t.exec(repo, t.backup(src)...); err != nil {
			return fmt.Errorf("%s backup of %s: %w", t.name, src, err)
		}
	}
	return b.each(func(i int, t *tool) error {
		return b.restoreChecked(phaseSmall, t, b.repo("small", t, 0), src, want, i)
	})
}
