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
