// Package testprereq is the one way a test says what it needs of the
// machine: missing, the test is skipped on a developer's machine and fails
// under CI=true, where scripts/deps.sh must have provided it (a skip there
// would hide a test that never ran).
package testprereq

import (
	"fmt"
	"os"
	"testing"
)

// CI tells whether the tests run under CI=true.
func CI() bool { return os.Getenv("CI") == "true" }

// Require skips t (fails it under CI=true) unless ok; format and args say
// what is missing.
func Require(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	msg := "missing prerequisite: " + fmt.Sprintf(format, args...)
	if CI() {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
}

// Root requires the test to run as root.
func Root(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "root")
}
