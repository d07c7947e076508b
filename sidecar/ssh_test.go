package sidecar

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSSHArgs(t *testing.T) {
	args, err := sshArgs("ssh://admin@new-host:2222", "-i /k")
	if err != nil {
		t.Fatal(err)
	}
	want := "-o ConnectTimeout=15 -T -l admin -p 2222 -i /k -- new-host docker system dial-stdio"
	if strings.Join(args, " ") != want {
		t.Fatalf("args %q", args)
	}
	for _, bad := range []string{"ssh://", "ssh://host/path", "tcp://host"} {
		if _, err := sshArgs(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// sshd starts an OpenSSH server on 127.0.0.1 that lets root in with a
// fresh key, and returns the host URL and the ssh options to use.
func sshd(t *testing.T) (string, string) {
	t.Helper()
	for _, bin := range []string{"/usr/sbin/sshd", "ssh", "ssh-keygen", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (.ci/run installs openssh-server)", bin)
			}
			t.Skipf("%s missing", bin)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd needs root")
	}
	dir := t.TempDir()
	for _, k := range []string{"host", "user"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "user.pub"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := fmt.Sprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\nPermitRootLogin prohibit-password\n"+
		"PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile %s\n",
		port, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "pid"))
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := false
	for i := 0; i < 200 && !ready; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			ready = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("sshd did not listen on port %d within 10 s:\n%s", port, logs.String())
	}
	opts := fmt.Sprintf("-i %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR", filepath.Join(dir, "user"))
	return fmt.Sprintf("ssh://root@127.0.0.1:%d", port), opts
}

// An engine at ssh:// works as with the docker CLI: volumes are listed,
// the sidecar image is loaded and run through the ssh connection.
func TestSSHEngine(t *testing.T) {
	host, opts := sshd(t)
	ctx := context.Background()
	e, err := ConnectEndpoint(ctx, Endpoint{Host: host, SSHOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Host() != host {
		t.Fatalf("host %q", e.Host())
	}
	if _, err := e.Volumes(ctx, Selection{All: true}); err != nil {
		t.Fatal(err)
	}
	ref, err := e.EnsureImage(ctx, build(t, "0"), "test-ssh")
	if err != nil {
		t.Fatal(err)
	}
	removeImage(t, e, ref)
	var out bytes.Buffer
	if code, err := e.Run(ctx, RunSpec{Image: ref, Args: []string{"--version"}, Stdout: &out}); err != nil || code != 0 {
		t.Fatalf("run over ssh: %d %v", code, err)
	}
	_, err = ConnectEndpoint(ctx, Endpoint{Host: "ssh://root@127.0.0.1:1", SSHOptions: opts})
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Docker engine at ssh://root@127.0.0.1:1") {
		t.Fatalf("unreachable ssh host: %v", err)
	}
}
