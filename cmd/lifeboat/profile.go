package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile starts the hidden --cpu-profile, for finding where time goes;
// stopProfile ends it and writes the hidden --mem-profile (allocations
// since the start, and what is still in use), for finding where memory goes.
func (a *app) startProfile() error {
	if a.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(a.cpuProfile)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	a.profile = f
	return nil
}

func (a *app) stopProfile() {
	if a.profile != nil {
		pprof.StopCPUProfile()
		a.profile.Close()
		a.profile = nil
	}
	if a.memProfile != "" {
		if f, err := os.Create(a.memProfile); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
}
