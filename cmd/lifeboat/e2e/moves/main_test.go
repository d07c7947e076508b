package moves

import (
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
)

// lb is the lifeboat executable this package's tests run.
var lb *clitest.Lifeboat

func TestMain(m *testing.M) { clitest.Main(m, "moves", func(b *clitest.Lifeboat) { lb = b }) }
