package fleet

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
	"github.com/lifeboat-backup/lifeboat/internal/testservers"
	"github.com/lifeboat-backup/lifeboat/internal/treetest"
)

var fleetFor = flag.Duration("fleet", 40*time.Second, "how long TestFleetBesidePrune runs its backups and prunes (the issue's measurement: 5m)")

// fleetHost is one host of the fleet: a database-like file whose pages
// change between backups, a file every host shares, and a file of its own.
type fleetHost struct {
	name string
	src  string
	rng  *rand.Rand
	// sums holds, for each snapshot the host saved, the hash of each file
	// as it was backed up.
	sums map[string]map[string][32]byte
}

const fleetPage = 8 << 10

func (h *fleetHost) writePages(t *testing.T, share float64) {
	f, err := os.OpenFile(filepath.Join(h.src, "db"), os.O_RDWR, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	pages := int(fi.Size() / fleetPage)
	buf := make([]byte, fleetPage)
	for range max(1, int(float64(pages)*share)) {
		for i := range buf {
			buf[i] = byte(h.rng.Uint32())
		}
		if _, err := f.WriteAt(buf, int64(h.rng.IntN(pages))*fleetPage); err != nil {
			t.Error(err)
		}
	}
}

func fileSums(t *testing.T, dir string) map[string][32]byte {
	sums := map[string][32]byte{}
	for _, name := range []string{"db", "shared", "own"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("read %s: %v", name, err)
			continue
		}
		sums[name] = sha256.Sum256(b)
	}
	return sums
}

// Eight hosts back up into one S3 repository (versitygw) in a loop while
// forget and prune run in a loop beside them, every other prune killed -9
// at a random moment. No backup is locked out or fails, no prune fails
// (killed ones aside), prunes do delete, and in the end check --read-data
// passes and every remaining snapshot restores equal to what its host
// backed up. -fleet sets the duration (the measurement runs 5m).
func TestFleetBesidePrune(t *testing.T) {
	srv := testservers.StartS3(t)
	srv.Bucket(t, "fleet")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, running for %s", seed, *fleetFor)
	c := lb.CLIOn(t, "s3://fleet/repo", []string{"LIFEBOAT_PASSWORD=pw",
		"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey, "AWS_REGION=us-east-1",
		"LIFEBOAT_S3_ENDPOINT=" + srv.Endpoint, "LIFEBOAT_S3_PATH_STYLE=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"})
	c.OK("init", "--pack-size", "1")
	shared := treetest.RandomBytes(seed, 2<<20)
	var hosts []*fleetHost
	for i := range 8 {
		h := &fleetHost{name: fmt.Sprintf("node-%d", i), rng: rand.New(rand.NewPCG(seed, uint64(i))),
			sums: map[string]map[string][32]byte{}}
		h.src = clitest.WriteTree(t, map[string][]byte{
			"db":     treetest.RandomBytes(seed+uint64(i)+1, 4<<20),
			"shared": shared,
			"own":    treetest.RandomBytes(seed+uint64(i)+100, 256<<10),
		})
		hosts = append(hosts, h)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	backups := make([]int, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.writePages(t, 0.02)
				if h.rng.IntN(4) == 0 { // now and then a file of its own changes whole
					if err := os.WriteFile(filepath.Join(h.src, "own"), treetest.RandomBytes(h.rng.Uint64(), 256<<10), 0o644); err != nil {
						t.Error(err)
					}
				}
				sums := fileSums(t, h.src)
				r := c.Run("backup", "--path", h.src, "--host", h.name, "--json")
				if r.Code != 0 {
					fail("backup on %s: exit %d: %s", h.name, r.Code, r.Stderr)
					continue
				}
				var sum struct {
					ID string `json:"snapshot_id"`
				}
				if err := clitest.DecodeLast(r.Stdout, "summary", &sum); err != nil {
					fail("backup on %s: %v", h.name, err)
					continue
				}
				id := sum.ID
				mu.Lock()
				h.sums[id] = sums
				backups[i]++
				mu.Unlock()
			}
		}()
	}
	prunes, killed, deleted, takenBack := 0, 0, 0.0, 0.0
	rng := rand.New(rand.NewPCG(seed, 999))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if r := c.Run("forget", "--keep-last", "2"); r.Code != 0 {
				fail("forget: exit %d: %s", r.Code, r.Stderr)
			}
			if n%2 == 1 {
				// Killed at a random moment of its run: the next prune
				// finishes its work.
				cmd := c.Cmd("prune", "--grace", "1s")
				if err := cmd.Start(); err != nil {
					fail("start prune: %v", err)
					return
				}
				time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				// A kill that came after the prune ended is no kill.
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					killed++
				} else if cmd.ProcessState.ExitCode() == 0 {
					prunes++
				} else {
					fail("prune before its kill: %v", cmd.ProcessState)
				}
				continue
			}
			r := c.Run("prune", "--grace", "1s", "--json")
			if r.Code != 0 {
				fail("prune: exit %d: %s", r.Code, r.Stderr)
				continue
			}
			var pr struct {
				Report struct {
					Deleted   float64 `json:"packs_deleted"`
					TakenBack float64 `json:"taken_back"`
				} `json:"report"`
			}
			if err := clitest.DecodeLast(r.Stdout, "prune", &pr); err != nil {
				fail("prune: %v", err)
				continue
			}
			deleted += pr.Report.Deleted
			takenBack += pr.Report.TakenBack
			prunes++
		}
	}()
	time.Sleep(*fleetFor) // the length of the run, not a wait for an outcome
	close(stop)
	wg.Wait()
	t.Logf("backups per host %v; prunes %d finished, %d killed; packs deleted %v, taken back %v", backups, prunes, killed, deleted, takenBack)
	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		return
	}
	for i, n := range backups {
		if n < 2 {
			t.Fatalf("%s backed up %d times: the run was too short to test anything", hosts[i].name, n)
		}
	}
	if prunes < 2 || killed < 1 || deleted == 0 {
		t.Fatalf("prunes %d, killed %d, packs deleted %v: the prunes did not get to delete beside the backups", prunes, killed, deleted)
	}

	if out := c.OK("check", "--read-data"); !strings.Contains(out, "no errors found") {
		t.Fatalf("check:\n%s", out)
	}
	restored := 0
	for _, id := range c.SnapshotIDs() {
		var want map[string][32]byte
		for _, h := range hosts {
			if s, ok := h.sums[id]; ok {
				want = s
			}
		}
		if want == nil {
			t.Fatalf("snapshot %s was saved by no host's backup", id[:12])
		}
		dst := t.TempDir()
		c.OK("restore", id[:12], "--target", dst, "--verify")
		got := fileSums(t, dst)
		for name, sum := range want {
			if got[name] != sum {
				t.Fatalf("snapshot %s: %s differs from what was backed up", id[:12], name)
			}
		}
		restored++
	}
	if restored < len(hosts) {
		t.Fatalf("%d snapshots restored, fewer than the %d hosts", restored, len(hosts))
	}
	t.Logf("%d snapshots restored equal to their sources", restored)
}
