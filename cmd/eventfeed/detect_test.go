package main

import (
	"context"
	"strings"
	"testing"
)

// tail prints the same lines for a feed's Atom URL and its http-feed URL.
func TestTailHTTPFeed(t *testing.T) {
	f := newTailFeed(t)
	f.add(t, 7)
	var lines [2]string
	for i, u := range []string{f.url(), f.url() + "/events"} {
		var out, errb syncBuffer
		if err := runTail(context.Background(), []string{u}, &out, &errb); err != nil {
			t.Fatalf("tail %s: %v (stderr %s)", u, err, errb.String())
		}
		lines[i] = out.String()
	}
	if n := strings.Count(lines[0], "\n"); n != 7 {
		t.Fatalf("tail of the Atom feed printed %d lines, want 7:\n%s", n, lines[0])
	}
	if lines[0] != lines[1] {
		t.Errorf("tail of the http-feed printed\n%s\nwant, as for the Atom feed,\n%s", lines[1], lines[0])
	}
}
