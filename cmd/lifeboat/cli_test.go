package main

import (
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
)

// lb is the lifeboat executable the CLI tests run. The slow end-to-end
// tests are in the packages under e2e/, each with a binary of its own.
var lb *clitest.Lifeboat

func TestMain(m *testing.M) { clitest.Main(m, "cli", func(b *clitest.Lifeboat) { lb = b }) }
