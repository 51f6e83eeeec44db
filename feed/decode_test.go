package feed_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/feed"
)

func TestDecodeForeign(t *testing.T) {
	doc, err := os.ReadFile("testdata/foreign/blog.xml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	plus1 := time.FixedZone("", 3600)
	gif, _ := base64.StdEncoding.DecodeString("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
	want := &feed.Feed{
		ID:      "tag:blog.example.org,2026:feed",
		Title:   "Example Blog",
		Updated: time.Date(2026, 11, 20, 18, 30, 2, 0, plus1).UTC(),
		Authors: []feed.Person{{Name: "Ada Writer", URI: "https://blog.example.org/ada", Email: "ada@blog.example.org"}},
		Links: []feed.Link{
			{Rel: "alternate", Href: "/", Type: "text/html"},
			{Rel: "self", Href: "/feed.atom", Type: "application/atom+xml"},
			{Rel: "hub", Href: "https://hub.example.net/"},
		},
		Entries: []feed.Entry{
			{
				ID:        "tag:blog.example.org,2026:3",
				Title:     "Third <em>post</em>",
				Updated:   time.Date(2026, 11, 20, 18, 30, 2, 250e6, plus1).UTC(),
				Published: time.Date(2026, 11, 20, 17, 0, 0, 0, plus1).UTC(),
				Links:     []feed.Link{{Href: "/2026/11/third"}},
				Categories: []feed.Category{
					{Term: "news", Label: "News"},
					{Term: "go", Scheme: "https://blog.example.org/tags"},
				},
				Summary: "A short summary.",
				Content: feed.Content{Type: "html", Body: []byte("<p>Hello &amp; welcome</p>")},
			},
			{
				ID:      "tag:blog.example.org,2026:2",
				Title:   `Second <b>post</b>`, // the xhtml:div is not part of it
				Updated: time.Date(2026, 11, 19, 8, 0, 0, 0, time.UTC),
				Links: []feed.Link{
					{Rel: "alternate", Href: "2026/11/second"},
					{Rel: "replies", Href: "/2026/11/second/comments.atom", Type: "application/atom+xml"},
				},
				Content: feed.Content{Type: "xhtml", Body: []byte(`<div xmlns="http://www.w3.org/1999/xhtml">
        <p>An <a href="/x">XHTML</a> body.</p>
      </div>`)},
			},
			{
				ID:      "tag:blog.example.org,2026:1b",
				Title:   "Data",
				Updated: time.Date(2026, 11, 18, 8, 0, 0, 0, time.UTC),
				Content: feed.Content{Type: "application/vnd.example.data+xml", Body: []byte(`<data xmlns="urn:example:data"><point x="1" y="2"/></data>`)},
			},
			{
				ID:      "tag:blog.example.org,2026:1",
				Title:   "First post",
				Updated: time.Date(2026, 11, 18, 8, 0, 0, 0, time.UTC),
				Summary: "A one-pixel image.",
				Content: feed.Content{Type: "image/gif", Body: gif},
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
		for i := range min(len(got.Entries), len(want.Entries)) {
			if !reflect.DeepEqual(got.Entries[i], want.Entries[i]) {
				t.Errorf("entry %d:\ngot  %+v\nwant %+v", i, got.Entries[i], want.Entries[i])
			}
		}
	}

	// The feed-level author stands in for the entries': a valid document.
	var b bytes.Buffer
	if err := feed.Encode(&b, got); err != nil {
		t.Errorf("Encode of the decoded foreign feed: %v", err)
	}
	ev, err := got.Entries[3].Event("blog")
	if err != nil || ev.ContentType != "image/gif" || !bytes.Equal(ev.Data, gif) || ev.Type != "First post" || ev.Seq != 0 {
		t.Errorf("Event of the image entry: got %+v, %v", ev, err)
	}
}

// TestDecodeStreams checks that entries reach fn as they arrive, before
// the rest of the document has been written.
func TestDecodeStreams(t *testing.T) {
	doc := encode(t, testPage(1, 6, true))
	cut := bytes.Index(doc, []byte("</entry>")) + len("</entry>")
	pr, pw := io.Pipe()
	first := make(chan struct{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := pw.Write(doc[:cut]); err != nil {
			return
		}
		select {
		case <-first: // the first entry was handed out: send the rest
		case <-stop:
			return
		}
		pw.Write(doc[cut:])
		pw.Close()
	}()
	defer func() {
		close(stop) // if decoding stopped early, the writer stops too
		pr.Close()
		<-done
	}()
	var ids []string
	_, err := feed.Decode(pr, feed.DecodeOptions{}, func(e *feed.Entry) error {
		if len(ids) == 0 {
			close(first)
		}
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil || len(ids) != 6 {
		t.Fatalf("got %d entries, %v; want 6, no error", len(ids), err)
	}
}

func TestDecodeCallback(t *testing.T) {
	want := testPage(2, 10, true)
	doc := encode(t, want)
	var seqs []uint64
	var prev *feed.Entry
	f, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, func(e *feed.Entry) error {
		if prev != nil && prev != e {
			t.Errorf("entry not reused")
		}
		prev = e
		if !reflect.DeepEqual(*e, want.Entries[len(seqs)]) {
			t.Errorf("entry %d: got %+v, want %+v", len(seqs), *e, want.Entries[len(seqs)])
		}
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Entries != nil || len(seqs) != 10 {
		t.Errorf("got %d entries in Feed.Entries and %d through fn, want 0 and 10", len(f.Entries), len(seqs))
	}
	want.Entries = nil
	if !reflect.DeepEqual(f, want) {
		t.Errorf("metadata: got %+v, want %+v", f, want)
	}

	stop := errors.New("stop here")
	n := 0
	_, err = feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, func(e *feed.Entry) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("fn error: got %v after %d entries, want %v after 3", err, n, stop)
	}
}

func TestDecodeHead(t *testing.T) {
	const doc = `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:fh="http://purl.org/syndication/history/1.0">
  <id>urn:f</id>
  <link rel="self" href="/p/2"/>
  <link rel="next-archive" href="/p/3"/>
  <fh:archive/>
  <entry><id>urn:1</id><title>a</title><updated>2026-01-01T00:00:00Z</updated></entry>
  <link rel="prev-archive" href="/p/1"/>
  <entry><id>urn:2</id><title>b</title><updated>2026-01-01T00:00:00Z</updated></entry>
</feed>`
	for _, withFn := range []bool{true, false} {
		var heads []feed.Feed
		entries := 0
		opt := feed.DecodeOptions{Head: func(h *feed.Feed) {
			if entries != 0 {
				t.Errorf("Head called after %d entries, want before the first", entries)
			}
			heads = append(heads, *h)
		}}
		var fn func(*feed.Entry) error
		if withFn {
			fn = func(*feed.Entry) error { entries++; return nil }
		}
		f, err := feed.Decode(strings.NewReader(doc), opt, fn)
		if err != nil {
			t.Fatal(err)
		}
		want := feed.Feed{ID: "urn:f", Archive: true, Links: []feed.Link{{Rel: "self", Href: "/p/2"}, {Rel: "next-archive", Href: "/p/3"}}}
		if len(heads) != 1 || !reflect.DeepEqual(heads[0], want) {
			t.Errorf("fn %v: Head got %+v, want once %+v", withFn, heads, want)
		}
		if got := f.Link(feed.RelPrevArchive); got != "/p/1" {
			t.Errorf("fn %v: prev-archive after the first entry: got %q in the Feed, want /p/1", withFn, got)
		}
	}

	// A feed without entries: Head at its end, with everything.
	var heads []feed.Feed
	empty := `<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:e</id><link rel="current" href="/e"/></feed>`
	if _, err := feed.Decode(strings.NewReader(empty), feed.DecodeOptions{Head: func(h *feed.Feed) { heads = append(heads, *h) }}, func(*feed.Entry) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := feed.Feed{ID: "urn:e", Links: []feed.Link{{Rel: "current", Href: "/e"}}}
	if len(heads) != 1 || !reflect.DeepEqual(heads[0], want) {
		t.Errorf("empty feed: Head got %+v, want once %+v", heads, want)
	}
}

func TestDecodeEntry(t *testing.T) {
	want := entryDocument()
	var b bytes.Buffer
	if err := feed.EncodeEntry(&b, want); err != nil {
		t.Fatal(err)
	}
	doc := b.Bytes()
	got, err := feed.DecodeEntry(bytes.NewReader(doc), feed.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	_, err = feed.DecodeEntry(bytes.NewReader(encode(t, testPage(1, 1, true))), feed.DecodeOptions{})
	if !errors.Is(err, feed.ErrNotAtom) {
		t.Errorf("DecodeEntry of a feed: got %v, want ErrNotAtom", err)
	}
	_, err = feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
	if !errors.Is(err, feed.ErrNotAtom) {
		t.Errorf("Decode of an entry document: got %v, want ErrNotAtom", err)
	}
}

const feedHead = `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:ef="https://github.com/eventfeed/eventfeed/ns/1"><id>x</id><title>t</title><updated>2026-01-01T00:00:00Z</updated>`

func entryDoc(inner string) string {
	return feedHead + `<entry><id>e</id><title>t</title><updated>2026-01-01T00:00:00Z</updated>` + inner + `</entry></feed>`
}

func TestDecodeBadInput(t *testing.T) {
	deep := strings.Repeat("<x:a>", 300) + strings.Repeat("</x:a>", 300)
	laughs := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol3;</title></feed>`
	var syntax *feed.SyntaxError
	for _, tc := range []struct {
		name string
		doc  string
		opt  feed.DecodeOptions
		want any // a sentinel error, or the **SyntaxError target
	}{
		{"empty", "", feed.DecodeOptions{}, &syntax},
		{"not XML", "hello", feed.DecodeOptions{}, &syntax},
		{"malformed tag", feedHead + `<entry <id>`, feed.DecodeOptions{}, &syntax},
		{"mismatched end tag", feedHead + `<entry></feed>`, feed.DecodeOptions{}, &syntax},
		{"unquoted attribute", feedHead + `<link href=x/></feed>`, feed.DecodeOptions{}, &syntax},
		{"truncated", entryDoc("")[:len(entryDoc(""))-20], feed.DecodeOptions{}, &syntax},
		{"truncated in a tag", feedHead + `<entry><id`, feed.DecodeOptions{}, &syntax},
		{"undefined entity", feedHead + `<title>&nbsp;</title></feed>`, feed.DecodeOptions{}, &syntax},
		{"control character", feedHead + "<title>\x01</title></feed>", feed.DecodeOptions{}, &syntax},
		{"invalid UTF-8", feedHead + "<title>\xff</title></feed>", feed.DecodeOptions{}, &syntax},
		{"undeclared prefix", feedHead + `<x:foo/></feed>`, feed.DecodeOptions{}, &syntax},
		{"text after root", feedHead + `</feed>trailing`, feed.DecodeOptions{}, &syntax},
		{"second root", feedHead + `</feed><feed/>`, feed.DecodeOptions{}, &syntax},
		{"latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?>` + feedHead + `</feed>`, feed.DecodeOptions{}, &syntax},
		{"wrong root", `<rss version="2.0"><channel/></rss>`, feed.DecodeOptions{}, feed.ErrNotAtom},
		{"atom 0.3", `<feed xmlns="http://purl.org/atom/ns#"/>`, feed.DecodeOptions{}, feed.ErrNotAtom},
		{"no namespace", `<feed/>`, feed.DecodeOptions{}, feed.ErrNotAtom},
		{"oversize", entryDoc(""), feed.DecodeOptions{MaxBytes: 100}, feed.ErrTooLarge},
		{"too many entries", entryDoc("") + "", feed.DecodeOptions{MaxEntries: 1}, nil},
		{"entry too large", entryDoc(`<summary>` + strings.Repeat("x", 2000) + `</summary>`), feed.DecodeOptions{MaxEntryBytes: 1000}, feed.ErrTooLarge},
		{"invalid date", entryDoc(`<published>yesterday</published>`), feed.DecodeOptions{}, &syntax},
		{"invalid date: month 13", entryDoc(`<published>2026-13-01T00:00:00Z</published>`), feed.DecodeOptions{}, &syntax},
		{"invalid date: no zone", entryDoc(`<published>2026-01-01T00:00:00</published>`), feed.DecodeOptions{}, &syntax},
		{"invalid base64", entryDoc(`<content type="image/png">not*base64</content>`), feed.DecodeOptions{}, &syntax},
		{"element in base64", entryDoc(`<content type="image/png"><x/></content>`), feed.DecodeOptions{}, &syntax},
		{"invalid ef:seq", entryDoc(`<ef:seq>seven</ef:seq>`), feed.DecodeOptions{}, &syntax},
		{"ef:seq zero", entryDoc(`<ef:seq>0</ef:seq>`), feed.DecodeOptions{}, &syntax},
		{"ef:seq overflow", entryDoc(`<ef:seq>18446744073709551616</ef:seq>`), feed.DecodeOptions{}, &syntax},
		{"src and content", entryDoc(`<content type="image/png" src="x">aGk=</content>`), feed.DecodeOptions{}, &syntax},
		{"billion laughs", laughs, feed.DecodeOptions{}, &syntax},
		{"deep nesting", feedHead + `<x:a xmlns:x="urn:x">` + deep + `</x:a></feed>`, feed.DecodeOptions{}, &syntax},
		{"xml declaration later", feedHead + `<?xml version="1.0"?></feed>`, feed.DecodeOptions{}, &syntax},
		{"comment with --", feedHead + `<!-- a -- b --></feed>`, feed.DecodeOptions{}, &syntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "too many entries" {
				tc.doc = strings.Replace(entryDoc(""), "</feed>", "<entry/></feed>", 1)
				tc.want = feed.ErrTooLarge
			}
			f, err := feed.Decode(strings.NewReader(tc.doc), tc.opt, nil)
			if err == nil {
				t.Fatalf("got %+v, no error; want %v", f, tc.want)
			}
			switch w := tc.want.(type) {
			case error:
				if !errors.Is(err, w) {
					t.Errorf("got %v, want %v", err, w)
				}
			case **feed.SyntaxError:
				if !errors.As(err, w) {
					t.Errorf("got %v (%T), want a *feed.SyntaxError", err, err)
				}
			}
			if f != nil {
				t.Errorf("got feed %+v with the error, want nil", f)
			}
		})
	}
}

// TestDecodeReaderError checks that a failing reader's error comes back
// as it is.
func TestDecodeReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader(feedHead), errReader{boom})
	_, err := feed.Decode(r, feed.DecodeOptions{}, nil)
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestDecodeLimits checks the limits at their edge: a document of exactly
// MaxBytes is read, one byte more is refused.
func TestDecodeLimits(t *testing.T) {
	doc := encode(t, testPage(1, 3, true))
	if _, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{MaxBytes: int64(len(doc)), MaxEntries: 3}, nil); err != nil {
		t.Errorf("document of exactly MaxBytes with MaxEntries entries: %v", err)
	}
	if _, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{MaxBytes: int64(len(doc) - 1)}, nil); !errors.Is(err, feed.ErrTooLarge) {
		t.Errorf("document one byte over MaxBytes: got %v, want ErrTooLarge", err)
	}
	// A reader that never ends is stopped at the limit.
	endless := io.MultiReader(strings.NewReader(feedHead+"<x:a xmlns:x='urn:x'>"), zeros{})
	if _, err := feed.Decode(endless, feed.DecodeOptions{MaxBytes: 1 << 20}, nil); !errors.Is(err, feed.ErrTooLarge) {
		t.Errorf("endless document: got %v, want ErrTooLarge", err)
	}
}

// zeros is an endless reader of text ("0000…").
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// TestDecodeSplitReads feeds documents one byte per Read, so that every
// token, reference, CDATA section and UTF-8 sequence straddles a buffer
// refill at some point.
func TestDecodeSplitReads(t *testing.T) {
	for _, name := range []string{"content.xml", "foreign/blog.xml", "archive.xml"} {
		doc, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := feed.Decode(&oneByteReader{doc}, feed.DecodeOptions{}, nil)
		if err != nil {
			t.Fatalf("%s, one byte at a time: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: one byte at a time:\ngot  %+v\nwant %+v", name, got, want)
		}
	}
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// TestDecodeLongTokens decodes content, attributes and comments longer
// than the decoder's buffer.
func TestDecodeLongTokens(t *testing.T) {
	long := strings.Repeat("abcdefgh", 20000)
	doc := entryDoc(`<!-- ` + long + ` -->` +
		`<link href="https://example.com/` + long + `"/>` +
		`<summary><![CDATA[` + long + `]]>&amp;` + long + `</summary>` +
		`<content type="application/xml"><a xmlns="urn:a">` + long + `<b/>` + long + `</a></content>`)
	f, err := feed.Decode(strings.NewReader(doc), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := f.Entries[0]
	if got, want := e.Link("alternate"), "https://example.com/"+long; got != want {
		t.Errorf("link: got %d bytes, want %d", len(got), len(want))
	}
	if got, want := e.Summary, long+"&"+long; got != want {
		t.Errorf("summary: got %d bytes, want %d", len(got), len(want))
	}
	if got, want := string(e.Content.Body), `<a xmlns="urn:a">`+long+`<b/>`+long+`</a>`; got != want {
		t.Errorf("content: got %d bytes, want %d", len(got), len(want))
	}
}

func TestDecodeTextForms(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    feed.Content
	}{
		{`<content type="application/json"><![CDATA[{"a":"<&>"}]]></content>`, feed.Content{Type: "application/json", Body: []byte(`{"a":"<&>"}`)}},
		{`<content type="application/json">{"a":"&lt;&amp;&gt;"}</content>`, feed.Content{Type: "application/json", Body: []byte(`{"a":"<&>"}`)}},
		{`<content type="application/json">{"a":<![CDATA["<&>"]]>}</content>`, feed.Content{Type: "application/json", Body: []byte(`{"a":"<&>"}`)}},
		{`<content>a&#x20AC;&#8364;&#xD;&#10;b</content>`, feed.Content{Body: []byte("a€€\r\nb")}},
		{"<content>a\r\nb\rc</content>", feed.Content{Body: []byte("a\nb\nc")}},
		{`<content type="text/xml">  <a xmlns="urn:a"/>  </content>`, feed.Content{Type: "text/xml", Body: []byte(`<a xmlns="urn:a"/>`)}},
		{`<content type="text/xml">&lt;a/&gt;</content>`, feed.Content{Type: "text/xml", Body: []byte(`<a/>`)}},
		{`<content type="html"><p>unescaped</p></content>`, feed.Content{Type: "html", Body: []byte(`<p>unescaped</p>`)}},
		{`<content type="image/png"></content>`, feed.Content{Type: "image/png"}},
		{`<content type="image/png"/>`, feed.Content{Type: "image/png"}},
		{`<content type="image/png" src="a.png"/>`, feed.Content{Type: "image/png", Src: "a.png"}},
		{`<content type="image/png">aGk</content>`, feed.Content{Type: "image/png", Body: []byte("hi")}},
	} {
		f, err := feed.Decode(strings.NewReader(entryDoc(tc.content)), feed.DecodeOptions{}, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.content, err)
			continue
		}
		if got := f.Entries[0].Content; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %+v (%q)\nwant %+v (%q)", tc.content, got, got.Body, tc.want, tc.want.Body)
		}
	}
}

func TestResolve(t *testing.T) {
	doc, err := os.ReadFile("testdata/foreign/blog.xml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Entries[3].Content = feed.Content{Type: "image/gif", Src: "../img/a.gif"}
	f.Entries[2].Links = []feed.Link{{Href: "https://other.example.net/x"}, {Href: "%zz"}}
	base, _ := url.Parse("https://blog.example.org/blog/feed.atom")
	f.Resolve(base)
	for _, tc := range []struct{ got, want string }{
		{f.Link("alternate"), "https://blog.example.org/"},
		{f.Link("self"), "https://blog.example.org/feed.atom"},
		{f.Link("hub"), "https://hub.example.net/"},
		{f.Entries[0].Link("alternate"), "https://blog.example.org/2026/11/third"},
		{f.Entries[1].Link("alternate"), "https://blog.example.org/blog/2026/11/second"},
		{f.Entries[2].Links[0].Href, "https://other.example.net/x"},
		{f.Entries[2].Links[1].Href, "%zz"},
		{f.Entries[3].Content.Src, "https://blog.example.org/img/a.gif"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestDecodeNamespaces reads a document that binds the namespaces
// differently from Encode: what counts is the namespace, not the prefix.
func TestDecodeNamespaces(t *testing.T) {
	doc := `<a:feed xmlns:a="http://www.w3.org/2005/Atom" xmlns="urn:other">
  <a:id>f</a:id><id>not atom</id>
  <a:entry>
    <a:id>e</a:id>
    <seq xmlns="https://github.com/eventfeed/eventfeed/ns/1">12</seq>
    <x:subject xmlns:x="https://github.com/eventfeed/eventfeed/ns/1">s</x:subject>
    <a:title xmlns:a="urn:not-atom-here">ignored</a:title>
    <title xmlns="http://www.w3.org/2005/Atom">kept</title>
  </a:entry>
</a:feed>`
	f, err := feed.Decode(strings.NewReader(doc), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := f.Entries[0]
	if f.ID != "f" || e.ID != "e" || e.Seq != 12 || e.Subject != "s" || e.Title != "kept" {
		t.Errorf("got feed id %q, entry %+v; want f, e, seq 12, subject s, title kept", f.ID, e)
	}
}

// TestDecodeJSONForms reads JSON content in every form writers use: Base64
// (RFC 4287 §4.1.3.3, what Encode writes), and inline as earlier versions
// of this package wrote it (CDATA, scalars in Base64) and other writers
// still do (escaped, bare scalars).
func TestDecodeJSONForms(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"base64", `eyJhIjoiPCYifQ==`, `{"a":"<&"}`},
		{"base64 wrapped, unpadded", "\n eyJh\n IjoxfQ\n", `{"a":1}`},
		{"base64 of a scalar", `NDI=`, `42`},
		{"legacy CDATA", `<![CDATA[{"a":"<&"}]]>`, `{"a":"<&"}`},
		{"escaped inline", `[1,"&lt;"]`, `[1,"<"]`},
		{"string", `"x"`, `"x"`},
		{"negative number", `-1.5e3`, `-1.5e3`},
		{"number", `1234`, `1234`},
		{"fraction", `0.5`, `0.5`},
		{"true", ` true `, `true`},
		{"null", `null`, `null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := `<entry xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>T</title><updated>2026-01-01T00:00:00Z</updated>` +
				`<content type="application/json">` + tc.content + `</content></entry>`
			e, err := feed.DecodeEntry(strings.NewReader(doc), feed.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ev, err := e.Event("f")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(ev.Data)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Neither JSON nor Base64: an error, not a guess.
	doc := `<entry xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>T</title><updated>2026-01-01T00:00:00Z</updated>` +
		`<content type="application/json">true!</content></entry>`
	var se *feed.SyntaxError
	if _, err := feed.DecodeEntry(strings.NewReader(doc), feed.DecodeOptions{}); !errors.As(err, &se) {
		t.Errorf("JSON content %q: got error %v, want a *feed.SyntaxError", "true!", err)
	}
}
