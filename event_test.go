package eventfeed_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
)

func TestValidateFeedName(t *testing.T) {
	for _, name := range []string{"orders", "a", "orders.v2", "my_feed-1", strings.Repeat("x", eventfeed.MaxFeedNameLen)} {
		if err := eventfeed.ValidateFeedName(name); err != nil {
			t.Errorf("ValidateFeedName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", "Orders", "or ders", "orders/1", "ordérs", "a\x00", strings.Repeat("x", eventfeed.MaxFeedNameLen+1)} {
		if err := eventfeed.ValidateFeedName(name); !errors.Is(err, eventfeed.ErrInvalidFeedName) {
			t.Errorf("ValidateFeedName(%q) = %v, want ErrInvalidFeedName", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	good := eventfeed.Event{Feed: "orders", ID: "urn:x:1", Type: "order.placed", Subject: "order-1",
		Time: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), ContentType: "application/json; charset=utf-8", Data: []byte("{}")}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v, want nil", good, err)
	}
	for _, tc := range []struct {
		name   string
		change func(*eventfeed.Event)
		want   error
	}{
		{"bad feed", func(e *eventfeed.Event) { e.Feed = "Orders" }, eventfeed.ErrInvalidFeedName},
		{"no ID", func(e *eventfeed.Event) { e.ID = "" }, eventfeed.ErrInvalidEvent},
		{"no type", func(e *eventfeed.Event) { e.Type = "" }, eventfeed.ErrInvalidEvent},
		{"long ID", func(e *eventfeed.Event) { e.ID = strings.Repeat("x", eventfeed.MaxIDLen+1) }, eventfeed.ErrInvalidEvent},
		{"control in subject", func(e *eventfeed.Event) { e.Subject = "a\nb" }, eventfeed.ErrInvalidEvent},
		{"invalid UTF-8 in type", func(e *eventfeed.Event) { e.Type = "a\xffb" }, eventfeed.ErrInvalidEvent},
		{"content type without subtype", func(e *eventfeed.Event) { e.ContentType = "json" }, eventfeed.ErrInvalidEvent},
		{"content type malformed", func(e *eventfeed.Event) { e.ContentType = "text/plain; charset" }, eventfeed.ErrInvalidEvent},
		{"year 10000", func(e *eventfeed.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, eventfeed.ErrInvalidEvent},
		{"year 0", func(e *eventfeed.Event) { e.Time = time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC) }, eventfeed.ErrInvalidEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := good
			tc.change(&e)
			if err := e.Validate(); !errors.Is(err, tc.want) {
				t.Errorf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSameContent(t *testing.T) {
	stored := eventfeed.Event{Feed: "orders", Seq: 7, ID: "urn:x:1", Type: "t", Time: time.Unix(100, 5), Data: []byte("{}")}
	for _, tc := range []struct {
		name   string
		change func(*eventfeed.Event)
		want   bool
	}{
		{"identical", func(*eventfeed.Event) {}, true},
		{"no seq, as an append has", func(e *eventfeed.Event) { e.Seq = 0 }, true},
		{"time left to the log", func(e *eventfeed.Event) { e.Time = time.Time{} }, true},
		{"default content type spelled out", func(e *eventfeed.Event) { e.ContentType = eventfeed.DefaultContentType }, true},
		{"other data", func(e *eventfeed.Event) { e.Data = []byte("[]") }, false},
		{"same millisecond, as the log keeps it", func(e *eventfeed.Event) { e.Time = time.Unix(100, 999_999) }, true},
		{"other time", func(e *eventfeed.Event) { e.Time = time.Unix(100, 1_000_000) }, false},
		{"other feed", func(e *eventfeed.Event) { e.Feed = "x" }, false},
		{"other subject", func(e *eventfeed.Event) { e.Subject = "s" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stored
			tc.change(&e)
			if got := e.SameContent(&stored); got != tc.want {
				t.Errorf("SameContent() = %v, want %v", got, tc.want)
			}
		})
	}
}
