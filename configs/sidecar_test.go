package configs

import (
	"slices"
	"testing"
)

// The sidecar gets the merged settings as variables, the AWS and emulator
// variables, and the credential files that exist, under its own paths.
func TestSidecarSettings(t *testing.T) {
	c := &Config{S3Endpoint: "http://127.0.0.1:9000", S3PathStyle: true, Connections: 4, GCSCredentials: "/secrets/gcs.json",
		Compression: "max"}
	environ := []string{"AWS_ACCESS_KEY_ID=id", "AWS_SECRET_ACCESS_KEY=secret", "AWS_CA_BUNDLE=/ca.pem",
		"STORAGE_EMULATOR_HOST=127.0.0.1:4443", "HOME=/root", "LIFEBOAT_PASSWORD=never"}
	getenv := func(k string) string {
		return map[string]string{"AWS_CONFIG_FILE": "/etc/aws/config"}[k]
	}
	exists := func(p string) bool { return p != "/root/.aws/credentials" }
	env, files := c.SidecarSettings(environ, getenv, "/root", exists)
	slices.Sort(env)
	want := []string{
		"AWS_ACCESS_KEY_ID=id", "AWS_CONFIG_FILE=" + CredentialsDir + "aws-config", "AWS_SECRET_ACCESS_KEY=secret",
		"GOOGLE_APPLICATION_CREDENTIALS=" + CredentialsDir + "gcs.json",
		"LIFEBOAT_COMPRESSION=max", "LIFEBOAT_CONNECTIONS=4", "LIFEBOAT_S3_ENDPOINT=http://127.0.0.1:9000", "LIFEBOAT_S3_PATH_STYLE=true",
		"STORAGE_EMULATOR_HOST=127.0.0.1:4443",
	}
	if !slices.Equal(env, want) {
		t.Fatalf("env\n got %v\nwant %v", env, want)
	}
	if len(files) != 2 || files["/etc/aws/config"] != CredentialsDir+"aws-config" || files["/secrets/gcs.json"] != CredentialsDir+"gcs.json" {
		t.Fatalf("files %v", files)
	}
}
