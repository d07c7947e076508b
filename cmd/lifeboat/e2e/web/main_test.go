// Package web tests the daemon's web page from outside: a real daemon,
// a real engine and repository, and Debian's chromium driven headless
// (chromedp) for what a user does on the page.
package web

import (
	"testing"

	"github.com/lifeboat-backup/lifeboat/cmd/lifeboat/internal/clitest"
)

// lb is the lifeboat executable this package's tests run.
var lb *clitest.Lifeboat

func TestMain(m *testing.M) { clitest.Main(m, "web", func(b *clitest.Lifeboat) { lb = b }) }
