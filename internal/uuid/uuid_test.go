package uuid

import (
	"regexp"
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
	base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 50 {
		u := newURN(base.Add(time.Duration(i) * 300 * time.Microsecond))
		// The timestamp and sub-millisecond parts come first, so IDs made
		// at least 1/4096 ms apart sort in time order.
		if key := u[:len("urn:uuid:xxxxxxxx-xxxx-7xxx")]; key <= prev {
			t.Fatalf("ID %d %q does not sort after the one before (%q)", i, u, prev)
		} else {
			prev = key
		}
	}
	// 1795694400000 ms = 0x01a217ba1200.
	if got, want := newURN(base)[9:22], "01a217ba-1200"; got != want {
		t.Errorf("timestamp of %v encodes as %q, want %q", base, got, want)
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
