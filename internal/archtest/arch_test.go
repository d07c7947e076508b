package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lifeboat-backup/lifeboat/"

// allowed lists, per package, the lifeboat packages its non-test code may
// import: the table of docs/architecture.md.
var allowed = map[string][]string{
	"targets":              nil,
	"targets/local":        {"targets"},
	"targets/mem":          {"targets"},
	"targets/s3":           {"targets"},
	"targets/gcs":          {"targets"},
	"targets/retry":        {"targets"},
	"targets/limit":        {"targets"},
	"targets/all":          {"targets", "targets/local", "targets/s3", "targets/gcs", "targets/retry", "targets/limit"},
	"internal/workers":     nil,
	"internal/human":       nil,
	"repository/crypto":    nil,
	"repository/pack":      {"repository/crypto"},
	"repository/index":     {"repository/pack"},
	"repository":           {"targets", "repository/crypto", "repository/pack", "repository/index", "internal/workers"},
	"repository/checker":   {"repository", "repository/index", "repository/pack", "targets"},
	"repository/prune":     {"repository", "repository/index", "repository/pack", "targets"},
	"repository/repair":    {"repository", "repository/index", "repository/pack", "targets"},
	"repository/retention": {"repository"},
	"repository/forget":    {"repository", "repository/pack", "repository/retention"},
	"internal/wire":        {"repository"},
	"snapshot":             {"repository", "repository/pack", "internal/wire", "internal/workers"},
	"restore":              {"repository", "repository/pack", "repository/crypto", "internal/wire", "internal/workers"},
	"messages":             {"repository", "restore"},
	"sidecar/protocol":     {"configs", "repository"},
	"sidecar":              {"repository", "sidecar/protocol", "messages"},
	"sidecar/worker":       {"sidecar/protocol", "messages", "repository", "snapshot", "restore"},
	"volumes":              {"sidecar", "sidecar/protocol", "messages", "snapshot", "restore", "repository", "repository/retention", "internal/human", "internal/wire"},
	"daemon":               {"repository"},
	"web":                  {"daemon", "repository", "repository/index", "repository/pack", "snapshot", "volumes", "internal/human"},
	"configs":              nil,
	"internal/archtest":    nil,
	"internal/linkshape":   nil,
	"internal/testservers": nil,
	"internal/treetest":    nil,
	"internal/targettest":  {"targets"},
	"internal/faulty":      {"targets"},
	"internal/repotest":    {"repository", "repository/crypto", "targets", "targets/mem"},
	"internal/dockerd":     {"sidecar"},
	"bench":                {"*"},
	// The commands: the workflows (volumes on the host, sidecar/worker in
	// a sidecar, snapshot and restore for directories, maintenance),
	// the daemon, configuration, the repository and the stores it opens,
	// and the output formats; never the engine or the sidecar protocol.
	"cmd/lifeboat": {"volumes", "sidecar/worker", "snapshot", "restore", "daemon", "web", "configs", "messages", "cmd/lifeboat/internal/results",
		"repository", "repository/checker", "repository/forget", "repository/pack", "repository/prune", "repository/repair", "repository/retention",
		"targets", "targets/all", "targets/s3", "targets/gcs", "internal/human"},

	"cmd/lifeboat/internal/results": {"repository", "volumes"},
	"cmd/lifeboat/internal/clitest": {"cmd/lifeboat/internal/results", "sidecar", "internal/dockerd"},
	// Only tests: the slow end-to-end tests of cmd/lifeboat.
	"cmd/lifeboat/e2e/fleet":   nil,
	"cmd/lifeboat/e2e/memory":  nil,
	"cmd/lifeboat/e2e/moves":   nil,
	"cmd/lifeboat/e2e/swarm":   nil,
	"cmd/lifeboat/e2e/volumes": nil,
	"cmd/lifeboat/e2e/web":     nil,
}

// testOnly are the packages no non-test code may import (bench aside: it
// is a harness, not the product; test helpers may use each other).
var testOnly = []string{"internal/repotest", "internal/treetest", "internal/testservers", "internal/targettest", "internal/faulty", "internal/dockerd", "cmd/lifeboat/internal/clitest"}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestImportsFollowTheLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, module)
		may, known := allowed[name]
		if !known {
			t.Errorf("%s is in no layer: add it to docs/architecture.md and this test", name)
			continue
		}
		checked++
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			switch {
			case strings.HasPrefix(imp, "github.com/moby/") || strings.HasPrefix(imp, "github.com/docker/"):
				if name != "sidecar" && name != "bench" && !slices.Contains(testOnly, name) {
					t.Errorf("%s imports the Docker client (%s): only sidecar (and test helpers) may", name, imp)
				}
			case !ours:
			case name != "bench" && !slices.Contains(testOnly, name) && slices.Contains(testOnly, dep):
				t.Errorf("%s imports %s, which is for tests only", name, dep)
			case dep == "cmd/lifeboat":
				t.Errorf("%s imports cmd/lifeboat", name)
			case slices.Contains(may, "*") || slices.Contains(may, dep):
			default:
				t.Errorf("%s imports %s: not allowed by docs/architecture.md (it may import %v)", name, dep, may)
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d packages: go list found too few", checked)
	}
}
