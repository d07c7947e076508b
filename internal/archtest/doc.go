// Package archtest holds the test that checks every import of lifeboat's
// packages against the layers of docs/architecture.md.
package archtest
