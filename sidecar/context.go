package sidecar

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Endpoint is where and how to reach an engine, as a docker context says.
type Endpoint struct {
	Host    string
	TLSDir  string // holds ca.pem, cert.pem, key.pem when the context has TLS
	Context string
	// SSHOptions are extra ssh arguments for an ssh:// host (LIFEBOAT_SSH_OPTIONS).
	SSHOptions string
}

// ResolveContext reads a docker CLI context (name "" means DOCKER_CONTEXT,
// else the config's currentContext; "default" means the environment) from
// configDir (default: DOCKER_CONFIG or ~/.docker). It returns a zero
// Endpoint when the environment (DOCKER_HOST, ...) should be used.
func ResolveContext(name, configDir string, getenv func(string) string) (Endpoint, error) {
	if configDir == "" {
		configDir = getenv("DOCKER_CONFIG")
	}
	if configDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Endpoint{}, nil
		}
		configDir = filepath.Join(home, ".docker")
	}
	if name == "" {
		name = getenv("DOCKER_CONTEXT")
	}
	if name == "" && getenv("DOCKER_HOST") == "" {
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		if b, err := os.ReadFile(filepath.Join(configDir, "config.json")); err == nil {
			_ = json.Unmarshal(b, &cfg)
		}
		name = cfg.CurrentContext
	}
	if name == "" || name == "default" {
		return Endpoint{}, nil
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	b, err := os.ReadFile(filepath.Join(configDir, "contexts", "meta", id, "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Endpoint{}, fmt.Errorf("docker context %q does not exist", name)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	ep := Endpoint{Host: meta.Endpoints["docker"].Host, Context: name}
	if ep.Host == "" {
		return Endpoint{}, fmt.Errorf("docker context %q has no docker endpoint", name)
	}
	tls := filepath.Join(configDir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(tls, "ca.pem")); err == nil {
		ep.TLSDir = tls
	}
	return ep, nil
}
