package configs

import (
	"strings"
	"testing"

	"github.com/spf13/viper"
)

// Every example config loads and validates.
func TestExampleConfigs(t *testing.T) {
	c, err := Load("../examples/lifeboat.yml", flags(), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Daemon.Jobs) != 2 || c.Daemon.Jobs[0].Name != "nightly" || c.Daemon.Jobs[0].Keep.Weekly != 4 ||
		c.Daemon.Jobs[1].Keep.Within.Hours() != 48 || c.Daemon.Listen != ":9123" {
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
	if cmd != "daemon --config /etc/lifeboat/lifeboat.yml" || !strings.Contains(vols, "/var/run/docker.sock") ||
		v.GetString("volumes.pgdata.labels.com.example.backup") != "nightly" {
		t.Fatalf("compose example: command %q volumes %q", cmd, vols)
	}
}

func TestDaemonValidation(t *testing.T) {
	for _, d := range []Daemon{
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
