// Package configs loads lifeboat's one typed configuration from a YAML
// file, LIFEBOAT_* environment variables and command-line flags (in rising
// order of precedence, for every setting, the password included), and
// checks its shape: unknown keys in the file are refused with their line and
// the closest known key, values of the wrong type with theirs. It holds
// plain data: what a value means (a compression level, a retention policy,
// a volume name) the layer that uses it parses and checks.
package configs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is everything the commands share. Keys are the flag names; the
// environment variable of key "password-file" is LIFEBOAT_PASSWORD_FILE.
type Config struct {
	Repository   string `mapstructure:"repo"`
	PasswordFile string `mapstructure:"password-file"`
	// Password comes only from the environment (LIFEBOAT_PASSWORD), never
	// from a flag or a file, so that it does not show in process lists.
	Password string `mapstructure:"-"`
	Host     string `mapstructure:"host"`
	JSON     bool   `mapstructure:"json"`
	Quiet    bool   `mapstructure:"quiet"`
	// PackSize is used by init only, in MiB.
	PackSizeMiB int `mapstructure:"pack-size"`
	// Compression of the blobs a run stores: off, fast, default or max.
	Compression string `mapstructure:"compression"`
	// CacheDir is where copies of a remote repository's snapshot and
	// index files are kept (default: the user's cache directory's
	// lifeboat/); NoCache turns that off.
	CacheDir string `mapstructure:"cache-dir"`
	NoCache  bool   `mapstructure:"no-cache"`

	// Cloud targets. Credentials come from the standard AWS and Google
	// chains (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws, instance roles;
	// GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server).
	S3Endpoint      string `mapstructure:"s3-endpoint"`
	S3PathStyle     bool   `mapstructure:"s3-path-style"`
	S3Region        string `mapstructure:"s3-region"`
	S3Profile       string `mapstructure:"s3-profile"`
	S3StorageClass  string `mapstructure:"s3-storage-class"`
	S3SSE           string `mapstructure:"s3-sse"`
	S3SSEKMSKeyID   string `mapstructure:"s3-sse-kms-key-id"`
	GCSCredentials  string `mapstructure:"gcs-credentials-file"`
	GCSStorageClass string `mapstructure:"gcs-storage-class"`
	Connections     int    `mapstructure:"connections"`

	// Daemon is read from the file's daemon: section only.
	Daemon Daemon `mapstructure:"daemon"`
}

// EnvPrefix is the prefix of lifeboat's environment variables.
const EnvPrefix = "LIFEBOAT"

// DefaultFile is read, if it exists, when no config file is named.
const DefaultFile = "/etc/lifeboat/lifeboat.yml"

// Load reads the configuration. file is an explicit config file ("" to
// look in the default places; LIFEBOAT_CONFIG also names one); flags are
// the command's flags, bound so that a flag given on the command line wins
// over the environment and the file.
func Load(file string, flags *pflag.FlagSet, getenv func(string) string) (*Config, error) {
	v := viper.New()
	if flags != nil {
		if err := v.BindPFlags(flags); err != nil {
			return nil, err
		}
	}
	if file == "" {
		file = getenv(EnvPrefix + "_CONFIG")
	}
	if file == "" {
		if _, err := os.Stat(DefaultFile); err == nil {
			file = DefaultFile
		}
	}
	if file != "" {
		if fi, err := os.Stat(file); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("config file %s is a directory: give the file (for example %s/lifeboat.yml)", file, strings.TrimSuffix(file, "/"))
		}
		if err := checkKeys(file); err != nil {
			return nil, err
		}
		v.SetConfigFile(file)
		if filepath.Ext(file) == "" {
			v.SetConfigType("yaml") // a file without an extension is read as YAML
		}
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", file, err)
		}
	}
	// The environment, read through getenv (never the process's own, so
	// that the caller decides), beats the file and loses to a flag given
	// on the command line.
	for _, key := range envKeys(flags) {
		if flags != nil && flags.Lookup(key) != nil && flags.Changed(key) {
			continue
		}
		for _, name := range envNames(key) {
			if val := getenv(name); val != "" {
				v.Set(key, val)
				break
			}
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return nil, decodeError(file, err)
	}
	if err := c.resolvePassword(flags, getenv); err != nil {
		return nil, err
	}
	return &c, c.Validate()
}

// envNames are the variables that set key: LIFEBOAT_ and the key in capitals
// with "_" for "-"; repo is also LIFEBOAT_REPOSITORY, the documented name.
func envNames(key string) []string {
	name := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
	if key == "repo" {
		return []string{EnvPrefix + "_REPOSITORY", name}
	}
	return []string{name}
}

// envKeys are the settings the environment can set: every top-level key
// of Config and every flag of the command.
func envKeys(flags *pflag.FlagSet) []string {
	seen := map[string]bool{}
	var keys []string
	for k, sub := range schemaOf(reflect.TypeOf(Config{})).keys {
		if sub == nil && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	if flags != nil {
		flags.VisitAll(func(f *pflag.Flag) {
			if !seen[f.Name] {
				seen[f.Name] = true
				keys = append(keys, f.Name)
			}
		})
	}
	sort.Strings(keys)
	return keys
}

// resolvePassword applies the one order of every setting to the password:
// a --password-file flag, then the environment (LIFEBOAT_PASSWORD or
// LIFEBOAT_PASSWORD_FILE, not both), then the file's password-file.
func (c *Config) resolvePassword(flags *pflag.FlagSet, getenv func(string) string) error {
	pw, pwFile := getenv(EnvPrefix+"_PASSWORD"), getenv(EnvPrefix+"_PASSWORD_FILE")
	switch {
	case flags != nil && flags.Changed("password-file"):
		// The flag's file, already in c.PasswordFile, wins.
	case pw != "" && pwFile != "":
		return fmt.Errorf("%s_PASSWORD and %s_PASSWORD_FILE are both set: unset one", EnvPrefix, EnvPrefix)
	case pw != "":
		c.Password, c.PasswordFile = pw, ""
	}
	return nil
}

// Validate checks values that every command relies on.
func (c *Config) Validate() error {
	if c.PackSizeMiB < 0 || c.PackSizeMiB > 128 {
		return fmt.Errorf("pack-size must be between 1 and 128 MiB, not %d", c.PackSizeMiB)
	}
	if err := c.Daemon.Validate(); err != nil {
		return err
	}
	if c.Connections < 0 || c.Connections > 256 {
		return fmt.Errorf("connections must be between 1 and 256, not %d", c.Connections)
	}
	switch c.S3SSE {
	case "", "AES256", "aws:kms", "aws:kms:dsse":
	default:
		return fmt.Errorf("s3-sse must be AES256 or aws:kms, not %q", c.S3SSE)
	}
	return nil
}

// ErrNoRepository: no repository location was given anywhere.
var ErrNoRepository = errors.New("no repository given: use --repo, LIFEBOAT_REPOSITORY or the config file's repo key")

// RequireRepository returns the repository location or a clear error.
func (c *Config) RequireRepository() (string, error) {
	if c.Repository == "" {
		return "", ErrNoRepository
	}
	return c.Repository, nil
}
