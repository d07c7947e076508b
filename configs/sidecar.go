package configs

import (
	"fmt"
	"strings"
)

// CredentialsDir is where a sidecar gets the credential files it is sent.
const CredentialsDir = "/run/lifeboat/credentials/"

// SidecarSettings maps the settings to what a sidecar needs to reach a
// remote repository as this process would: the merged lifeboat settings
// (file, environment and flags) as LIFEBOAT_* variables; the AWS_* and
// STORAGE_EMULATOR_HOST variables of environ; and the credential files
// (AWS shared credentials and config, the GCS key), which files maps from
// where this process reads them to where the sidecar gets them, with the
// variables pointing there. getenv reads this process's environment, home
// is its home directory ("" if none), and exists tells which files are
// there to be sent.
func (c *Config) SidecarSettings(environ []string, getenv func(string) string, home string, exists func(string) bool) (env []string, files map[string]string) {
	env = []string{}
	set := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	set("LIFEBOAT_S3_ENDPOINT", c.S3Endpoint)
	if c.S3PathStyle {
		set("LIFEBOAT_S3_PATH_STYLE", "true")
	}
	set("LIFEBOAT_S3_REGION", c.S3Region)
	set("LIFEBOAT_S3_PROFILE", c.S3Profile)
	set("LIFEBOAT_S3_STORAGE_CLASS", c.S3StorageClass)
	set("LIFEBOAT_S3_SSE", c.S3SSE)
	set("LIFEBOAT_S3_SSE_KMS_KEY_ID", c.S3SSEKMSKeyID)
	set("LIFEBOAT_GCS_STORAGE_CLASS", c.GCSStorageClass)
	set("LIFEBOAT_COMPRESSION", c.Compression)
	if c.Connections > 0 {
		set("LIFEBOAT_CONNECTIONS", fmt.Sprint(c.Connections))
	}
	files = map[string]string{}
	credFile := func(path, name, envName string) {
		if path == "" || !exists(path) {
			return
		}
		inside := CredentialsDir + name
		files[path] = inside
		set(envName, inside)
	}
	awsFile := func(envName, def string) string {
		if p := getenv(envName); p != "" {
			return p
		}
		if home == "" {
			return ""
		}
		return home + "/.aws/" + def
	}
	credFile(awsFile("AWS_SHARED_CREDENTIALS_FILE", "credentials"), "aws-credentials", "AWS_SHARED_CREDENTIALS_FILE")
	credFile(awsFile("AWS_CONFIG_FILE", "config"), "aws-config", "AWS_CONFIG_FILE")
	gcs := c.GCSCredentials
	if gcs == "" {
		gcs = getenv("GOOGLE_APPLICATION_CREDENTIALS")
	}
	credFile(gcs, "gcs.json", "GOOGLE_APPLICATION_CREDENTIALS")
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "AWS_") && k != "AWS_SHARED_CREDENTIALS_FILE" && k != "AWS_CONFIG_FILE" && k != "AWS_CA_BUNDLE") ||
			k == "STORAGE_EMULATOR_HOST" {
			set(k, v)
		}
	}
	return env, files
}
