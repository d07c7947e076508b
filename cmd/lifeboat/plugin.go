package main

import (
	"encoding/json"
	"io"
	"path/filepath"
)

// pluginName is the executable name under which the Docker CLI runs
// lifeboat as a plugin (from ~/.docker/cli-plugins): `docker lifeboat ...`.
const pluginName = "docker-lifeboat"

// pluginArgs adapts the Docker CLI plugin protocol: docker first asks for
// metadata, then runs the plugin with its own name as the first argument.
// It reports whether the call was the metadata request (already answered).
func pluginArgs(argv0 string, args []string, stdout io.Writer, version string) ([]string, bool) {
	if filepath.Base(argv0) != pluginName {
		return args, false
	}
	if len(args) > 0 && args[0] == "docker-cli-plugin-metadata" {
		_ = json.NewEncoder(stdout).Encode(map[string]string{
			"SchemaVersion":    "0.1.0",
			"Vendor":           "lifeboat",
			"Version":          version,
			"ShortDescription": "Back up, restore and move Docker volumes",
			"URL":              "https://github.com/lifeboat-backup/lifeboat",
		})
		return nil, true
	}
	if len(args) > 0 && args[0] == "lifeboat" {
		args = args[1:]
	}
	return args, false
}
