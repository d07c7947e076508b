package sidecar

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestResolveContext(t *testing.T) {
	dir := t.TempDir()
	write := func(p, data string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	id := func(name string) string { s := sha256.Sum256([]byte(name)); return hex.EncodeToString(s[:]) }
	write(filepath.Join(dir, "contexts/meta", id("prod-2"), "meta.json"),
		`{"Name":"prod-2","Endpoints":{"docker":{"Host":"ssh://admin@new-host"}}}`)
	write(filepath.Join(dir, "contexts/meta", id("tls"), "meta.json"),
		`{"Name":"tls","Endpoints":{"docker":{"Host":"tcp://10.0.0.9:2376"}}}`)
	write(filepath.Join(dir, "contexts/tls", id("tls"), "docker/ca.pem"), "x")
	write(filepath.Join(dir, "config.json"), `{"currentContext":"prod-2"}`)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	cases := []struct {
		name string
		env  map[string]string
		host string
		tls  bool
	}{
		{"prod-2", nil, "ssh://admin@new-host", false},
		{"tls", nil, "tcp://10.0.0.9:2376", true},
		{"", nil, "ssh://admin@new-host", false},                                      // currentContext
		{"", map[string]string{"DOCKER_HOST": "unix:///x.sock"}, "", false},           // the environment wins
		{"", map[string]string{"DOCKER_CONTEXT": "tls"}, "tcp://10.0.0.9:2376", true}, // DOCKER_CONTEXT
		{"default", nil, "", false},
	}
	for _, c := range cases {
		ep, err := ResolveContext(c.name, dir, env(c.env))
		if err != nil || ep.Host != c.host || (ep.TLSDir != "") != c.tls {
			t.Errorf("%q %v: %+v %v", c.name, c.env, ep, err)
		}
	}
	if _, err := ResolveContext("nope", dir, env(nil)); err == nil {
		t.Fatal("unknown context accepted")
	}
}
