package feed_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
)

func TestEntryFromEvent(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	ev := eventfeed.Event{
		Feed: "orders", Seq: 7, ID: "urn:uuid:1", Type: "order.placed", Subject: "order-7",
		Time: time.Date(2026, 11, 26, 10, 0, 0, 5, paris), ContentType: "application/json", Data: []byte(`{"a":1}`),
	}
	e := feed.EntryFromEvent(ev, feed.EntryOptions{})
	want := feed.Entry{
		ID:         "urn:uuid:1",
		Title:      "order.placed order-7",
		Updated:    time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), // to the millisecond
		Published:  time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
		Categories: []feed.Category{{Term: "order.placed", Scheme: feed.DefaultCategoryScheme}},
		Summary:    "order.placed order-7",
		Content:    feed.Content{Type: "application/json", Body: []byte(`{"a":1}`)},
		Seq:        7,
		Subject:    "order-7",
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got  %+v\nwant %+v", e, want)
	}
	if e.Updated.Location() != time.UTC {
		t.Errorf("Updated location: got %v, want UTC", e.Updated.Location())
	}

	// A content type Atom cannot carry becomes bytes, not an unwritable
	// page.
	ev.ContentType = "json"
	e = feed.EntryFromEvent(ev, feed.EntryOptions{})
	if e.Content.Type != "application/octet-stream" || !bytes.Equal(e.Content.Body, ev.Data) {
		t.Errorf("content type %q: got content %+v, want application/octet-stream with the data", ev.ContentType, e.Content)
	}

	ev.Subject, ev.ContentType, ev.Data = "", "text/plain", []byte("hi")
	e = feed.EntryFromEvent(ev, feed.EntryOptions{CategoryScheme: "urn:types"})
	if e.Title != "order.placed" || e.Categories[0].Scheme != "urn:types" || e.Summary != "" || len(e.Links) != 0 || len(e.Authors) != 0 {
		t.Errorf("without subject, with scheme: got title %q, categories %+v, summary %q, links %v, authors %v",
			e.Title, e.Categories, e.Summary, e.Links, e.Authors)
	}
}

// TestEventRoundTrip checks that EntryFromEvent → Encode → Decode →
// Entry.Event gives back the event for every kind of content, and that
// Entry.Event reverses EntryFromEvent directly too.
func TestEventRoundTrip(t *testing.T) {
	events := contentEvents()
	more := []struct{ ct, data string }{
		{"application/json", `"a string"`},
		{"application/json", `-1.5`},
		{"application/json", `null`},
		{"application/json", "\n  {\"padded\": true}\n"},
		{"application/json", "{\"bad utf8\": \"\xff\"}"},
		{"application/json", "{\"control\": \"\x01\"}"},
		{"application/json", ""},
		{"application/problem+json", `{"title":"]]>"}`},
		{"text/xml", `<a xmlns="urn:a"><b/></a>`},
		{"application/atom+xml", `<x:a xmlns:x="urn:x"><x:b>&amp;</x:b><!-- c --></x:a>`},
		{"application/xml", `<a xmlns="urn:a"/> trailing`},
		{"application/xml", `<a xmlns="urn:a"><b xmlns=""/><?pi x?></a>`},
		{"application/xml", `<undeclared:a xmlns:x="urn:x"/>`},
		{"application/xml", `not xml at all & <`},
		{"text/plain", "tab\tand\r\nCRLF and lone\r CR"},
		{"application/octet-stream", "\x00\x01\x02\xff"},
		{"application/protobuf", strings.Repeat("\x08\x96\x01", 100)},
	}
	for i, m := range more {
		ev := events[0]
		ev.Seq, ev.ID, ev.Type, ev.ContentType, ev.Data = uint64(100+i), "urn:more:"+string(rune('a'+i)), "more", m.ct, []byte(m.data)
		events = append(events, ev)
	}
	ev := events[0]
	ev.Seq, ev.ID, ev.ContentType = 200, "urn:default-type", ""
	events = append(events, ev)

	for _, opt := range []feed.EntryOptions{{}, {CategoryScheme: "urn:example:types"}} {
		f := &feed.Feed{ID: "urn:f", Title: "f", Authors: []feed.Person{{Name: "f"}}}
		for _, ev := range events {
			f.Entries = append(f.Entries, feed.EntryFromEvent(ev, opt))
		}
		doc := encode(t, f)
		got, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
		if err != nil {
			t.Fatalf("Decode: %v\n%s", err, doc)
		}
		for i, want := range events {
			want.ContentType = want.MediaType()
			direct, err := f.Entries[i].Event(want.Feed)
			if err != nil {
				t.Errorf("%s: Event of EntryFromEvent: %v", want.ID, err)
			}
			decoded, err := got.Entries[i].Event(want.Feed)
			if err != nil {
				t.Errorf("%s: Event of decoded entry: %v", want.ID, err)
			}
			for name, ev := range map[string]eventfeed.Event{"direct": direct, "decoded": decoded} {
				if !ev.Time.Equal(want.Time) {
					t.Errorf("%s (%s, %+v): time: got %v, want %v", want.ID, name, opt, ev.Time, want.Time)
				}
				ev.Time = want.Time
				if len(want.Data) == 0 {
					want.Data = nil
				}
				if !reflect.DeepEqual(ev, want) {
					t.Errorf("%s (%s, %+v):\ngot  %+v\nwant %+v", want.ID, name, opt, ev, want)
				}
			}
		}
	}
}

func TestEntryEventForeign(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		entry   feed.Entry
		want    eventfeed.Event
		wantErr error
	}{
		{
			name:  "no category: type from title, time from updated",
			entry: feed.Entry{ID: "x", Title: "Hello", Updated: t2, Published: t1, Content: feed.Content{Body: []byte("hi")}},
			want:  eventfeed.Event{Feed: "f", ID: "x", Type: "Hello", Time: t2, ContentType: "text/plain", Data: []byte("hi")},
		},
		{
			name:  "first category wins, published when no updated",
			entry: feed.Entry{ID: "x", Title: "T", Published: t1, Categories: []feed.Category{{Term: "a"}, {Term: "b"}}, Content: feed.Content{Type: "html", Body: []byte("<p>")}},
			want:  eventfeed.Event{Feed: "f", ID: "x", Type: "a", Time: t1, ContentType: "text/html", Data: []byte("<p>")},
		},
		{
			name:  "xhtml: the div is not part of the content",
			entry: feed.Entry{ID: "x", Title: "T", Content: feed.Content{Type: "xhtml", Body: []byte(`<div xmlns="http://www.w3.org/1999/xhtml"> <p>Hi</p> <div>there</div></div>`)}},
			want:  eventfeed.Event{Feed: "f", ID: "x", Type: "T", ContentType: "application/xhtml+xml", Data: []byte(` <p>Hi</p> <div>there</div>`)},
		},
		{
			name:  "xhtml: an empty div",
			entry: feed.Entry{ID: "x", Title: "T", Content: feed.Content{Type: "xhtml", Body: []byte(`<x:div xmlns:x="http://www.w3.org/1999/xhtml"/>`)}},
			want:  eventfeed.Event{Feed: "f", ID: "x", Type: "T", ContentType: "application/xhtml+xml"},
		},
		{
			name:    "xhtml: not one div",
			entry:   feed.Entry{ID: "x", Title: "T", Content: feed.Content{Type: "xhtml", Body: []byte(`<div>a</div><div>b</div>`)}},
			want:    eventfeed.Event{Feed: "f", ID: "x", Type: "T", ContentType: "application/xhtml+xml", Data: []byte(`<div>a</div><div>b</div>`)},
			wantErr: feed.ErrInvalid,
		},
		{
			name:  "summary only",
			entry: feed.Entry{ID: "x", Title: "T", Summary: "just a summary"},
			want:  eventfeed.Event{Feed: "f", ID: "x", Type: "T", ContentType: "text/plain", Data: []byte("just a summary")},
		},
		{
			name:    "out of line",
			entry:   feed.Entry{ID: "x", Title: "T", Content: feed.Content{Type: "image/png", Src: "https://example.com/a.png"}},
			want:    eventfeed.Event{Feed: "f", ID: "x", Type: "T", ContentType: "image/png"},
			wantErr: feed.ErrOutOfLineContent,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.entry.Event("f")
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("error: got %v, want none", err)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("error: got none, want %v", tc.wantErr)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error: got %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
