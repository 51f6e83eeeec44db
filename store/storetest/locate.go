package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// Locator is what a Log offers to find an event by ID (a publisher
// resolves the lastEventId of an http-feeds request with it).
type Locator interface {
	Locate(ctx context.Context, id string) (feed string, seq uint64, ok bool, err error)
}

// TestLocate checks the Locate method of the Logs open makes: every
// appended event is found in its feed at its seq, an unknown ID is not,
// and a replayed append does not move an event.
func TestLocate(t *testing.T, open func(t *testing.T) store.Log) {
	t.Helper()
	ctx := context.Background()
	l := open(t)
	loc, ok := l.(Locator)
	if !ok {
		t.Fatalf("%T has no Locate method", l)
	}
	var evs []eventfeed.Event
	for i, f := range []string{"a", "b", "a", "a", "b"} {
		evs = append(evs, eventfeed.Event{Feed: f, ID: "urn:locate:" + string(rune('0'+i)), Type: "t", Data: []byte(`{}`)})
	}
	stored, err := l.Append(ctx, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, evs[2]); err != nil {
		t.Fatal(err)
	}
	for _, ev := range stored {
		waitHead(t, l, ev.Feed, ev.Seq)
		feed, seq, ok, err := loc.Locate(ctx, ev.ID)
		if err != nil || !ok || feed != ev.Feed || seq != ev.Seq {
			t.Errorf("Locate(%q) = %q, %d, %v, %v; want %q, %d, true, nil", ev.ID, feed, seq, ok, err, ev.Feed, ev.Seq)
		}
	}
	if feed, seq, ok, err := loc.Locate(ctx, "urn:locate:none"); ok || err != nil {
		t.Errorf("Locate(unknown) = %q, %d, %v, %v; want not found", feed, seq, ok, err)
	}
}

// waitHead waits until l's feed has reached head (a Log may sequence
// appends after they return).
func waitHead(t *testing.T, l store.Log, feed string, head uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := l.Wait(ctx, feed, head-1); err != nil {
		t.Fatalf("Wait(%s, %d): %v", feed, head-1, err)
	}
}
