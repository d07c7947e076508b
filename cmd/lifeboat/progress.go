package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/lifeboat-backup/lifeboat/messages"
	"github.com/schollz/progressbar/v3"
)

// progressStatus is one reading of a running command's counters.
type progressStatus struct {
	FilesDone  int64 `json:"files_done"`
	TotalFiles int64 `json:"total_files"`
	BytesDone  int64 `json:"bytes_done"`
	TotalBytes int64 `json:"total_bytes"`
	Errors     int64 `json:"errors,omitempty"`
	TotalKnown bool  `json:"-"`
}

// startProgress shows the readings of status: a progress bar on a terminal
// (with rate and ETA), "status" JSON lines every second with --json, and
// nothing with --quiet or when stderr is not a terminal. stop ends it.
func (a *app) startProgress(verb string, status func() progressStatus) (stop func()) {
	o := a.out
	if o.quiet || (!o.json && !isTerminal(a.stderr)) {
		return func() {}
	}
	interval := time.Second / 4
	if o.json {
		interval = time.Second
	}
	var bar *progressbar.ProgressBar
	if !o.json {
		bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(interval),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSpinnerType(14),
		)
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		known := false
		for {
			select {
			case <-done:
				if bar != nil {
					_ = bar.Finish()
				}
				return
			case <-t.C:
			}
			s := status()
			if o.json {
				msg := messages.Status{Action: verb, FilesDone: s.FilesDone, BytesDone: s.BytesDone,
					Errors: s.Errors, SecondsElapsed: int(time.Since(start).Seconds())}
				if s.TotalKnown {
					msg.TotalFiles, msg.TotalBytes = &s.TotalFiles, &s.TotalBytes
					if s.TotalBytes > 0 {
						pct := float64(s.BytesDone) / float64(s.TotalBytes)
						msg.PercentDone = &pct
					}
				}
				o.emit(messages.MsgStatus, msg)
				continue
			}
			if s.TotalKnown && !known {
				bar.ChangeMax64(s.TotalBytes)
				known = true
			}
			desc := fmt.Sprintf("%s %d files", verb, s.FilesDone)
			if known {
				desc = fmt.Sprintf("%s %d/%d files", verb, s.FilesDone, s.TotalFiles)
			}
			if s.Errors > 0 {
				desc += fmt.Sprintf(", %d errors", s.Errors)
			}
			bar.Describe(desc)
			_ = bar.Set64(s.BytesDone)
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
