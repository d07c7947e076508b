package configs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Every example config loads and validates.
func TestExampleConfigs(t *testing.T) {
	c, err := Load("../examples/lifeboat.yml", flags(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Daemon.Jobs) != 2 || c.Daemon.Jobs[0].Name != "nightly" || c.Daemon.Jobs[0].Keep.Weekly != 4 ||
		c.Daemon.Jobs[1].Keep.Within.Hours() != 48 || c.Daemon.Listen != ":9123" ||
		c.Daemon.Web.PasswordFile != "/run/secrets/lifeboat-web-password" {
		t.Fatalf("daemon section: %+v", c.Daemon)
	}
	// The compose file runs the daemon on that config, with the socket.
	v := viper.New()
	v.SetConfigFile("../examples/compose.yml")
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	cmd := strings.Join(v.GetStringSlice("services.lifeboat.command"), " ")
	vols := strings.Join(v.GetStringSlice("services.lifeboat.volumes"), " ")
	secrets := strings.Join(v.GetStringSlice("services.lifeboat.secrets"), " ")
	if cmd != "daemon --config /etc/lifeboat/lifeboat.yml" || !strings.Contains(vols, "/var/run/docker.sock") ||
		v.GetString("volumes.pgdata.labels.com.example.backup") != "nightly" ||
		secrets != "lifeboat-password lifeboat-web-password" || v.GetString("secrets.lifeboat-web-password.file") == "" {
		t.Fatalf("compose example: command %q volumes %q secrets %q", cmd, vols, secrets)
	}
}

// The fleet example's configs load: each node backs up, one owner prunes.
func TestSwarmExampleConfigs(t *testing.T) {
	node, err := Load("../examples/swarm/node.yml", flags(), env(map[string]string{"LIFEBOAT_REPOSITORY": "s3://b/fleet"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(node.Daemon.Jobs) != 1 || node.Daemon.Jobs[0].Maintenance() || node.Daemon.Jobs[0].Prune != "" {
		t.Fatalf("node config: %+v", node.Daemon)
	}
	owner, err := Load("../examples/swarm/prune.yml", flags(), env(map[string]string{"LIFEBOAT_REPOSITORY": "s3://b/fleet"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(owner.Daemon.Jobs) != 1 || !owner.Daemon.Jobs[0].Maintenance() || owner.Daemon.Listen != "off" {
		t.Fatalf("prune owner config: %+v", owner.Daemon)
	}
	v := viper.New()
	v.SetConfigFile("../examples/swarm/stack.yml")
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	if v.GetString("services.node.deploy.mode") != "global" || v.GetInt("services.prune.deploy.replicas") != 1 {
		t.Fatalf("stack: node mode %q, prune replicas %d", v.GetString("services.node.deploy.mode"), v.GetInt("services.prune.deploy.replicas"))
	}
}

// The Kubernetes example holds a DaemonSet and a CronJob, and the node
// config in its ConfigMap loads.
func TestKubernetesExample(t *testing.T) {
	f, err := os.Open("../examples/kubernetes/lifeboat.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kinds := map[string]bool{}
	dec := yaml.NewDecoder(f)
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		kinds[doc.Kind] = true
		if cfg, ok := doc.Data["node.yml"]; ok {
			p := filepath.Join(t.TempDir(), "node.yml")
			if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(p, flags(), env(map[string]string{"LIFEBOAT_REPOSITORY": "s3://b/fleet"}))
			if err != nil || len(c.Daemon.Jobs) != 1 {
				t.Fatalf("the ConfigMap's node.yml: %v", err)
			}
		}
	}
	if !kinds["DaemonSet"] || !kinds["CronJob"] || !kinds["ConfigMap"] {
		t.Fatalf("kinds: %v", kinds)
	}
}

func TestDaemonValidation(t *testing.T) {
	for _, d := range []Daemon{
		{Jobs: []Job{{Name: "p", Prune: "@daily"}}},
		{Jobs: []Job{{Name: "c", Check: "@weekly", CheckReadData: "5%"}}},
		{Jobs: []Job{{Name: "pc", Prune: "@daily", Check: "@weekly"}}},
		{Jobs: []Job{{Name: "b", Schedule: "@daily", All: true, Prune: "@weekly", Check: "@weekly"}}},
	} {
		if err := d.Validate(); err != nil {
			t.Fatalf("%+v: %v", d, err)
		}
	}
	for _, d := range []Daemon{
		{Jobs: []Job{{Name: "p", Prune: "@daily", Schedule: "@hourly"}}},
		{Jobs: []Job{{Name: "p", Prune: "@daily", Keep: Keep{Last: 3}}}},
		{Jobs: []Job{{Name: "p", Prune: "@daily", Tags: []string{"x"}}}},
		{Jobs: []Job{{Name: "c", Check: "@daily", Schedule: "@hourly"}}},
		{Jobs: []Job{{Name: "c", Check: "@daily", Keep: Keep{Daily: 3}}}},
		{Jobs: []Job{{Name: "c", CheckReadData: "5%"}}},
		{Jobs: []Job{{Name: "c", Schedule: "@daily", All: true, CheckReadData: "5%"}}},
		{Jobs: []Job{{Schedule: "@daily", All: true}}},
		{Jobs: []Job{{Name: "a", All: true}}},
		{Jobs: []Job{{Name: "a", Schedule: "@daily"}}},
		{Jobs: []Job{{Name: "a", Schedule: "@daily", All: true, Paths: []string{"/x"}}}},
		{Jobs: []Job{{Name: "a", Schedule: "@daily", All: true}, {Name: "a", Schedule: "@daily", All: true}}},
	} {
		if err := d.Validate(); err == nil {
			t.Errorf("accepted %+v", d)
		}
	}
}
