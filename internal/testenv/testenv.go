// Package testenv lets tests that need a part from outside Go (jing,
// PostgreSQL, nginx) skip on a developer's machine without it, and fail
// instead of skipping where EVENTFEED_REQUIRE_ALL is set, as CI sets it, so
// that CI always runs them.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAllVar is the environment variable that turns skips into failures.
const RequireAllVar = "EVENTFEED_REQUIRE_ALL"

// PostgresDSNVar names the environment variable holding the DSN of a
// PostgreSQL server for tests.
const PostgresDSNVar = "EVENTFEED_POSTGRES_DSN"

// Missing skips t because what is not available, or fails it when
// EVENTFEED_REQUIRE_ALL is set.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(RequireAllVar) != "" {
		t.Fatalf("%s is not available, and %s is set", what, RequireAllVar)
	}
	t.Skipf("skipping: %s is not available (set %s to make this a failure)", what, RequireAllVar)
}

// Command returns the path of the named program, or skips (fails) t when it
// is not installed.
func Command(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "command "+name)
	}
	return path
}

// PostgresDSN returns the DSN in EVENTFEED_POSTGRES_DSN, or skips (fails) t
// when it is empty.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresDSNVar)
	if dsn == "" {
		Missing(t, "PostgreSQL ("+PostgresDSNVar+" is empty)")
	}
	return dsn
}
