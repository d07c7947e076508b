package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeboat-backup/lifeboat/internal/treetest"
)

// Installed as docker-lifeboat in the Docker CLI's plugin directory,
// `docker lifeboat ...` runs lifeboat.
func TestDockerCLIPlugin(t *testing.T) {
	cfg := t.TempDir()
	plugins := filepath.Join(cfg, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(plugins, pluginName)
	if err := os.Symlink(lb.Path, plugin); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(plugin, "docker-cli-plugin-metadata").Output()
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	if err := json.Unmarshal(out, &meta); err != nil || meta["SchemaVersion"] != "0.1.0" || meta["Vendor"] != "lifeboat" {
		t.Fatalf("metadata %q: %v", out, err)
	}
	docker := treetest.RequireTool(t, "docker")
	cmd := exec.Command(docker, "lifeboat", "--version")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "lifeboat version") {
		t.Fatalf("docker lifeboat --version: %v\n%s", err, got)
	}
}
