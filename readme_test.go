package eventfeed_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMECode checks that every Go block of README.md is code that
// example_test.go runs, so that the README's code cannot rot.
func TestREADMECode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// Example bodies are indented one tab more than the README shows them.
	examples := strings.ReplaceAll(string(src), "\n\t", "\n")
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 2 {
		t.Fatalf("README.md has %d Go blocks, want the publisher and the poller", len(blocks))
	}
	for _, b := range blocks {
		if !strings.Contains(examples, b[1]) {
			t.Errorf("README.md shows Go code that example_test.go does not run:\n%s", b[1])
		}
	}
}

// TestREADMEGoVersion checks that README.md names the Go version go.mod
// requires: a reader with an older toolchain must learn it before building.
func TestREADMEGoVersion(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Go " + string(m[1]) + " or newer", "`go " + string(m[1]) + "`"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks %q, which go.mod's go line says", want)
		}
	}
}
