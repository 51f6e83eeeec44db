package uuid

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var form = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewURN(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		u := NewURN()
		if !form.MatchString(u) {
			t.Fatalf("NewURN() = %q, not a version 7 UUID URN", u)
		}
		if seen[u] {
			t.Fatalf("NewURN() returned %q twice", u)
		}
		seen[u] = true
	}
}

func TestTimeOrdered(t *testing.T) {
	// IDs made one after the other sort in the order they were made, also
	// within one millisecond.
	prev := NewURN()
	for i := range 1000 {
		u := NewURN()
		if u <= prev {
			t.Fatalf("ID %d %q does not sort after the one before (%q)", i, u, prev)
		}
		prev = u
	}
	// The first 48 bits are the Unix time in milliseconds.
	before := time.Now().UnixMilli()
	u := NewURN()
	after := time.Now().UnixMilli()
	ms, err := strconv.ParseInt(strings.ReplaceAll(u[9:22], "-", ""), 16, 64)
	if err != nil || ms < before || ms > after {
		t.Errorf("timestamp of %q is %d (%v), want %d to %d", u, ms, err, before, after)
	}
}

func TestNameURN(t *testing.T) {
	// The version 5 UUID of "http://www.example.com/" in the URL name
	// space, as other implementations (Python's uuid.uuid5) give it.
	const want = "urn:uuid:fcde3c85-2270-590f-9e7c-ee003d65e0e2"
	if got := NameURN(NamespaceURL, "http://www.example.com/"); got != want {
		t.Errorf("NameURN(NamespaceURL, example) = %q, want %q", got, want)
	}
}
