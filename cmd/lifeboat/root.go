package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/lifeboat-backup/lifeboat/configs"
	"github.com/lifeboat-backup/lifeboat/repository"
	"github.com/lifeboat-backup/lifeboat/sidecar/worker"
	"github.com/spf13/cobra"
)

// app is what every command shares: its streams, environment and the
// loaded configuration. It is built in main and passed down explicitly.
type app struct {
	stdin          *os.File
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string // the whole environment, for what sidecars inherit
	version        string

	configFile    string
	cpuProfile    string
	memProfile    string
	dockerContext string
	sidecarImage  string
	profile       *os.File
	cfg           *configs.Config
	out           *output

	// in buffers stdin once anything reads it line by line; worker is the
	// sidecar's side of lifeboat, which reads from the same buffer.
	in     *bufio.Reader
	worker *worker.Worker
	// repoPassword is the repository password once asked for.
	repoPassword []byte
	// hostName is the host name snapshots record, once found
	// (snapshotHost).
	hostName string
}

// input is the buffered standard input: a sidecar's input line, then what
// follows it, read from the same buffer.
func (a *app) input() *bufio.Reader {
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	return a.in
}

func newRootCmd(a *app) *cobra.Command {
	a.worker = worker.New(workerHost{a}, a.input(), a.stdout, a.stderr)
	root := &cobra.Command{
		Use:   "lifeboat",
		Short: "Back up, restore and move Docker volumes and directories",
		Long: `lifeboat backs up Docker named volumes and directories into an encrypted,
deduplicating repository, and restores them, into fresh volumes too.

Files are cut into content-defined chunks; a chunk already in the repository is
never stored again, whichever host, volume or snapshot it came from. Every
object is compressed with zstd and sealed with AES-256-GCM under a master key
that is wrapped by password-derived keys (argon2id).

Quick start:
  export LIFEBOAT_REPOSITORY=/srv/backups LIFEBOAT_PASSWORD_FILE=/etc/lifeboat/password
  lifeboat init
  lifeboat backup pgdata uploads                    # Docker volumes, through a sidecar
  lifeboat backup --path /data --tag nightly        # a directory
  lifeboat snapshots
  lifeboat restore latest --volume pgdata --to-volume pgdata-restored
  lifeboat restore latest --path /data --target /restore
  lifeboat volume prune --dry-run                   # snapshot before docker volume prune

Every setting comes from a flag, else the environment (LIFEBOAT_*), else the
config file, in that order: the repository from --repo, LIFEBOAT_REPOSITORY or
repo:, the password from --password-file, LIFEBOAT_PASSWORD or
LIFEBOAT_PASSWORD_FILE, the file's password-file:, or a prompt on a terminal.
Unknown keys in the config file are refused.

` + exitCodeHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       a.version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.startProfile(); err != nil {
				return err
			}
			cfg, err := configs.Load(a.configFile, cmd.Flags(), a.getenv)
			if err == nil {
				err = checkSettings(cfg)
			}
			if err != nil {
				return usageError{err}
			}
			a.cfg = cfg
			a.out.json, a.out.quiet = cfg.JSON, cfg.Quiet
			pw, ok, err := a.worker.ReadInput()
			if ok && err == nil { // a sidecar: the password came with its input
				a.cfg.Password, a.cfg.PasswordFile = pw, ""
			}
			return err
		},
	}
	pf := root.PersistentFlags()
	pf.String(configs.FlagRepo, "", "repository: a directory, s3://BUCKET[/PREFIX] or gs://BUCKET[/PREFIX] (env LIFEBOAT_REPOSITORY)")
	pf.String("password-file", "", "read the repository password from this file (env LIFEBOAT_PASSWORD_FILE)")
	pf.StringVar(&a.configFile, "config", "", "config file (env LIFEBOAT_CONFIG; default "+configs.DefaultFile+" if it exists)")
	pf.Bool(configs.FlagJSON, false, "print JSON lines (each with a \"type\" field) instead of text")
	a.worker.AddInputFlag(pf)
	pf.BoolP("quiet", "q", false, "print no progress and no informational messages")
	pf.String("s3-endpoint", "", "S3-compatible endpoint URL, e.g. https://minio.lan:9000 (env LIFEBOAT_S3_ENDPOINT)")
	pf.Bool("s3-path-style", false, "address S3 buckets in the path, as most S3-compatible stores need")
	pf.String("s3-region", "", "S3 region (default: from the AWS config, else discovered from the bucket)")
	pf.String("s3-profile", "", "AWS shared config profile (default: AWS_PROFILE)")
	pf.String("s3-storage-class", "", "S3 storage class for new objects, e.g. STANDARD_IA")
	pf.String("s3-sse", "", "S3 server-side encryption: AES256 or aws:kms")
	pf.String("s3-sse-kms-key-id", "", "KMS key for --s3-sse aws:kms")
	pf.String("gcs-credentials-file", "", "Google service account key file (default: Application Default Credentials)")
	pf.String("gcs-storage-class", "", "GCS storage class for new objects, e.g. NEARLINE")
	pf.String("compression", "", "how new data is compressed: "+repository.CompressionNames+" (default: zstd level 3 for trees, level 1 for file data; env LIFEBOAT_COMPRESSION)")
	pf.Int("connections", 0, "concurrent requests to a cloud store (default 8)")
	pf.String("cache-dir", "", "where copies of a remote repository's snapshot and index files are kept (default: ~/.cache/lifeboat; env LIFEBOAT_CACHE_DIR)")
	pf.Bool(configs.FlagNoCache, false, "keep no local copies of a remote repository's snapshot and index files")
	pf.StringVar(&a.dockerContext, "context", "", "docker context to use for volumes (default: DOCKER_HOST, DOCKER_CONTEXT, the current context)")
	pf.StringVar(&a.sidecarImage, "sidecar-image", "", "run this image as the sidecar instead of building one from lifeboat's executable")
	pf.StringVar(&a.cpuProfile, "cpu-profile", "", "write a CPU profile (pprof) to this file")
	_ = pf.MarkHidden("cpu-profile")
	pf.StringVar(&a.memProfile, "mem-profile", "", "write a memory profile (pprof allocs) to this file at exit")
	_ = pf.MarkHidden("mem-profile")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	root.AddCommand(
		newInitCmd(a),
		newBackupCmd(a),
		newSnapshotsCmd(a),
		newLsCmd(a),
		newDiffCmd(a),
		newRestoreCmd(a),
		newCheckCmd(a),
		newKeyCmd(a),
		newUnlockCmd(a),
		newForgetCmd(a),
		newPruneCmd(a),
		newRepairCmd(a),
		newVolumeCmd(a),
		newDaemonCmd(a),
		newMigrateCmd(a),
		newServiceCmd(a),
		newUpgradeCmd(a),
		newRollbackCmd(a),
	)
	root.AddCommand(a.worker.Commands()...)
	return root
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, a *app, args []string) int {
	a.out = &output{stdout: a.stdout, stderr: a.stderr}
	for _, arg := range args { // errors before flag parsing honour --json too
		if arg == "--"+configs.FlagJSON {
			a.out.json = true
		}
	}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	a.stopProfile()
	if err != nil && ctx.Err() != nil && !errors.Is(err, context.Canceled) {
		err = errors.Join(context.Canceled, err)
	}
	if err != nil && isArgsError(err) {
		err = usageError{err}
	}
	code := exitCode(err)
	if code == exitInterrupted {
		// Not Go's "context canceled" from deep inside: what happened, and
		// what is kept.
		err = errInterrupted
	}
	if err != nil {
		a.out.fail(err, code)
	}
	return code
}

// errInterrupted is what an interrupted command says: every command keeps
// the repository valid (write new, then publish), and a backup's uploaded
// data is indexed for the next run.
var errInterrupted = errors.New("interrupted: the repository stays valid, and the next run picks up what this one left (uploaded data, an unfinished prune)")

// isArgsError recognises cobra's errors about arguments and commands.
func isArgsError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"accepts ", "requires at least", "unknown command", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
