package feed_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/feed"
)

func TestEncodeInvalid(t *testing.T) {
	author := []feed.Person{{Name: "a"}}
	ok := func() feed.Entry {
		return feed.Entry{ID: "e", Title: "t", Authors: author}
	}
	for _, tc := range []struct {
		name   string
		feed   *feed.Feed
		modify func(*feed.Entry)
	}{
		{"no author anywhere", &feed.Feed{ID: "f"}, func(e *feed.Entry) { e.Authors = nil }},
		{"link type not a media type", nil, func(e *feed.Entry) { e.Links = []feed.Link{{Href: "x", Type: "html"}} }},
		{"content type not a media type", nil, func(e *feed.Entry) { e.Content = feed.Content{Type: "json", Body: []byte("{}")} }},
		{"xhtml not a div", nil, func(e *feed.Entry) { e.Content = feed.Content{Type: "xhtml", Body: []byte("<p>x</p>")} }},
		{"xhtml div without namespace", nil, func(e *feed.Entry) { e.Content = feed.Content{Type: "xhtml", Body: []byte("<div>x</div>")} }},
		{"xhtml text", nil, func(e *feed.Entry) { e.Content = feed.Content{Type: "xhtml", Body: []byte("x")} }},
		{"src with text type", nil, func(e *feed.Entry) { e.Content = feed.Content{Type: "text", Src: "x"} }},
		{"src and body", nil, func(e *feed.Entry) { e.Content = feed.Content{Type: "image/png", Src: "x", Body: []byte{1}} }},
		{"email without @", nil, func(e *feed.Entry) { e.Authors = []feed.Person{{Name: "a", Email: "nobody"}} }},
		{"year 10000", nil, func(e *feed.Entry) { e.Updated = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"year 0", nil, func(e *feed.Entry) { e.Published = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok()
			tc.modify(&e)
			f := tc.feed
			if f == nil {
				f = &feed.Feed{ID: "f"}
			}
			f.Entries = []feed.Entry{e}
			var b bytes.Buffer
			if err := feed.Encode(&b, f); !errors.Is(err, feed.ErrInvalid) {
				t.Errorf("Encode: got %v, want ErrInvalid", err)
			}
			if err := feed.EncodeEntry(&b, &e); !errors.Is(err, feed.ErrInvalid) {
				t.Errorf("EncodeEntry: got %v, want ErrInvalid", err)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %q with the error, want nothing", b.Bytes())
			}
		})
	}
	var b bytes.Buffer
	if err := feed.EncodeService(&b, &feed.Service{}); !errors.Is(err, feed.ErrInvalid) || b.Len() != 0 {
		t.Errorf("EncodeService without workspace: got %v and %d bytes, want ErrInvalid and none", err, b.Len())
	}
}

// TestEncodeEscaping writes strings that need escaping everywhere a string
// goes, and reads them back.
func TestEncodeEscaping(t *testing.T) {
	nasty := "a & b < c > d \" e ' f ]]> g \t h \n i \r j € 😀"
	want := &feed.Feed{
		ID:      nasty,
		Title:   "x" + nasty + "x",
		Authors: []feed.Person{{Name: "x" + nasty + "x", URI: nasty, Email: "a" + strings.ReplaceAll(nasty, "\n", "") + "@b"}},
		Links:   []feed.Link{{Rel: nasty, Href: nasty, Type: "a/" + nasty}},
		Entries: []feed.Entry{{
			ID:         "x",
			Title:      "x" + nasty + "x",
			Categories: []feed.Category{{Term: nasty, Scheme: nasty, Label: nasty}},
			Summary:    "x" + nasty + "x",
			Subject:    nasty,
			Content:    feed.Content{Type: "html", Body: []byte(nasty)},
		}},
	}
	want.Authors[0].Email = strings.ReplaceAll(want.Authors[0].Email, "\r", "")
	doc := encode(t, want)
	got, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, doc)
	}
	// Element text is trimmed when read (foreign feeds indent it), which
	// is why the strings above that need it start and end with "x".
	want.ID = strings.TrimSpace(want.ID)
	want.Authors[0].URI = strings.TrimSpace(want.Authors[0].URI)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v\n%s", got, want, doc)
	}
}

// TestEncodeReplacesInvalidCharacters checks that text XML cannot carry
// is written as U+FFFD rather than making the document malformed.
func TestEncodeReplacesInvalidCharacters(t *testing.T) {
	f := &feed.Feed{ID: "f", Title: "bad \x00 \x1b \xff \ufffe end", Authors: []feed.Person{{Name: "a"}}}
	got, err := feed.Decode(bytes.NewReader(encode(t, f)), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "bad \ufffd \ufffd \ufffd \ufffd end"; got.Title != want {
		t.Errorf("got %q, want %q", got.Title, want)
	}
}

func TestEncodeNamespaces(t *testing.T) {
	for _, tc := range []struct {
		archive bool
		want    string
	}{
		{true, `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:fh="http://purl.org/syndication/history/1.0" xmlns:ef="https://github.com/eventfeed/eventfeed/ns/1">`},
		{false, `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:ef="https://github.com/eventfeed/eventfeed/ns/1">`},
	} {
		doc := encode(t, &feed.Feed{ID: "f", Archive: tc.archive})
		if !bytes.Contains(doc, []byte(tc.want)) || bytes.Contains(doc, []byte("<fh:archive/>")) != tc.archive {
			t.Errorf("archive %v: got\n%s\nwant root %s", tc.archive, doc, tc.want)
		}
	}
}
