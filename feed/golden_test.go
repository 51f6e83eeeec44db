package feed_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// contentEvents are events of every kind of content, by name.
func contentEvents() []eventfeed.Event {
	ev := func(seq uint64, typ, ct, data string) eventfeed.Event {
		return eventfeed.Event{
			Feed: "kinds", Seq: seq, ID: "urn:uuid:00000000-0000-4000-8000-1000000000" + string(rune('0'+seq/10)) + string(rune('0'+seq%10)),
			Type: typ, Subject: "thing-1", Time: base.Add(time.Duration(seq) * time.Second),
			ContentType: ct, Data: []byte(data),
		}
	}
	return []eventfeed.Event{
		ev(1, "json", "application/json", `{"a":"x < y & z","b":[1,2]}`),
		ev(2, "json.cdata-end", "application/cloudevents+json", "{\"s\":\"]]>\",\r\n\"t\":\"]]]]>\"}"),
		ev(3, "json.scalar", "application/json", `42`),
		ev(4, "xml.inline", "application/xml", `<order xmlns="urn:example:orders" id="7"><line sku="A">2</line></order>`),
		ev(5, "xml.no-namespace", "application/vnd.example+xml", `<?xml version="1.0"?><order id="7"/>`),
		ev(6, "text", "text/plain; charset=utf-8", "line 1\nline 2 <b>not bold</b> & \"quoted\"\r\n"),
		ev(7, "csv", "text/csv", "a,b\n1,2\n"),
		ev(8, "binary", "image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
		ev(9, "empty", "application/octet-stream", ""),
	}
}

// contentFeed is a feed holding an entry of every kind of content,
// including the Atom text types that events do not produce.
func contentFeed() *feed.Feed {
	f := &feed.Feed{
		ID:      "urn:eventfeed:kinds",
		Title:   "kinds",
		Updated: base.Add(time.Minute),
		Authors: []feed.Person{{Name: "kinds", Email: "kinds@example.com"}},
		Links:   []feed.Link{{Rel: feed.RelSelf, Href: "https://example.com/feeds/kinds"}},
	}
	for _, ev := range contentEvents() {
		f.Entries = append(f.Entries, feed.EntryFromEvent(ev, feed.EntryOptions{}))
	}
	scheme := contentEvents()[0]
	scheme.ID, scheme.Seq, scheme.Type = "urn:uuid:00000000-0000-4000-8000-100000000010", 10, "json.scheme"
	f.Entries = append(f.Entries, feed.EntryFromEvent(scheme, feed.EntryOptions{CategoryScheme: "urn:example:types"}))
	for i, c := range []feed.Content{
		{Type: "text", Body: []byte("plain <text>")},
		{Type: "html", Body: []byte("<p>Some <em>HTML</em> &amp; more</p>")},
		{Type: "xhtml", Body: []byte(`<div xmlns="http://www.w3.org/1999/xhtml"><p>Some <em>XHTML</em></p></div>`)},
		{Type: "application/pdf", Src: "https://example.com/doc.pdf"},
	} {
		f.Entries = append(f.Entries, feed.Entry{
			ID:      "urn:example:atom-text-" + c.Type,
			Title:   "Atom " + c.Type,
			Updated: base.Add(time.Duration(i) * time.Second),
			Authors: []feed.Person{{Name: "Writer", URI: "https://example.com/writer"}},
			Links:   []feed.Link{{Href: "https://example.com/post/" + string(rune('a'+i))}},
			Summary: "Atom content of type " + c.Type,
			Content: c,
		})
	}
	return f
}

func entryDocument() *feed.Entry {
	e := feed.EntryFromEvent(testEvent(42), feed.EntryOptions{})
	e.Authors = []feed.Person{{Name: "orders"}}
	e.Links = []feed.Link{
		{Rel: feed.RelSelf, Href: "https://example.com/feeds/orders/e1/entries/42", Type: feed.MediaTypeEntry},
		{Rel: feed.RelEdit, Href: "https://example.com/feeds/orders/e1/entries/42"},
		{Rel: feed.RelAlternate, Href: "https://example.com/orders/order-42", Type: "text/html"},
	}
	return &e
}

func serviceDocument() *feed.Service {
	return &feed.Service{Workspaces: []feed.Workspace{{
		Title: "Events of example.com",
		Collections: []feed.Collection{
			{
				Href:       "https://example.com/feeds/orders",
				Title:      "orders",
				Accept:     []string{feed.MediaTypeEntry, "application/json"},
				Categories: []feed.Category{{Term: "order.placed", Scheme: feed.DefaultCategoryScheme}, {Term: "order.shipped", Scheme: feed.DefaultCategoryScheme, Label: "Order shipped"}},
				Fixed:      true,
			},
			{Href: "https://example.com/feeds/audit", Title: "audit & log", Accept: []string{""}},
		},
	}}}
}

// goldenDocs renders every golden document by file name.
func goldenDocs(t *testing.T) map[string][]byte {
	t.Helper()
	docs := map[string][]byte{}
	render := func(name string, fn func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs[name] = b.Bytes()
	}
	render("archive.xml", func(b *bytes.Buffer) error { return feed.Encode(b, testPage(2, 3, true)) })
	render("working.xml", func(b *bytes.Buffer) error { return feed.Encode(b, testPage(3, 4, false)) })
	render("entry.xml", func(b *bytes.Buffer) error { return feed.EncodeEntry(b, entryDocument()) })
	render("content.xml", func(b *bytes.Buffer) error { return feed.Encode(b, contentFeed()) })
	render("service.xml", func(b *bytes.Buffer) error { return feed.EncodeService(b, serviceDocument()) })
	render("rss.xml", func(b *bytes.Buffer) error { return feed.EncodeRSS(b, testPage(2, 3, true)) })
	render("content-rss.xml", func(b *bytes.Buffer) error { return feed.EncodeRSS(b, contentFeed()) })
	render("jsonfeed.json", func(b *bytes.Buffer) error { return feed.EncodeJSONFeed(b, testPage(2, 3, true)) })
	render("content-jsonfeed.json", func(b *bytes.Buffer) error { return feed.EncodeJSONFeed(b, contentFeed()) })
	return docs
}

func TestGolden(t *testing.T) {
	for name, got := range goldenDocs(t) {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
		}
	}
}

// TestDeterministic renders every document twice: pages are cached
// forever under their ETag, so the same model must give the same bytes.
func TestDeterministic(t *testing.T) {
	first, second := goldenDocs(t), goldenDocs(t)
	for name := range first {
		if !bytes.Equal(first[name], second[name]) {
			t.Errorf("%s: two renderings differ:\n%s\n%s", name, first[name], second[name])
		}
	}
}

// TestSchema validates every golden Atom and AtomPub document against the
// RELAX NG schemas of RFC 4287 and RFC 5023, with one jing run per schema
// (the JVM is slow to start).
func TestSchema(t *testing.T) {
	jing := testenv.Command(t, "jing")
	atom := []string{"archive.xml", "working.xml", "entry.xml", "content.xml"}
	foreign, err := filepath.Glob("testdata/foreign/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		schema string
		files  []string
	}{
		{"atom.rnc", append(atom, foreign...)},
		{"app.rnc", []string{"service.xml"}},
	} {
		args := []string{"-c", filepath.Join("testdata", "schema", tc.schema)}
		for _, f := range tc.files {
			if !strings.HasPrefix(f, "testdata") {
				f = filepath.Join("testdata", f)
			}
			args = append(args, f)
		}
		out, err := exec.Command(jing, args...).CombinedOutput()
		var msgs []string
		for _, line := range strings.Split(string(out), "\n") {
			// Debian's jing wrapper warns about optional jars it lacks.
			if line != "" && !strings.HasPrefix(line, "[warning]") {
				msgs = append(msgs, line)
			}
		}
		if err != nil || len(msgs) > 0 {
			t.Errorf("jing %s: %v\n%s", tc.schema, err, strings.Join(msgs, "\n"))
		}
	}
}
