package publisher_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed/atom"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/publisher"
)

const (
	headCC      = "public, max-age=0, must-revalidate"
	immutableCC = "public, max-age=31536000, immutable"
)

func allowAll(*http.Request, string) error { return nil }

// TestContract checks each row of the wire contract: status, media type,
// caching headers.
func TestContract(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Authorize: allowAll})
	e.add("orders", 0, 4)
	tests := []struct {
		name, method, url string
		body              string
		headers           []string
		status            int
		contentType       string
		cacheControl      string
		vary              string
	}{
		{"service document", "GET", e.url("/"), "", nil, 200, feed.MediaTypeService, headCC, "Accept-Encoding"},
		{"subscription document", "GET", e.url("orders"), "", nil, 200, feed.MediaTypeFeed, headCC, "Accept-Encoding"},
		{"full page", "GET", e.pageURL("orders", 1), "", nil, 200, feed.MediaTypeFeed, immutableCC, "Accept-Encoding"},
		{"working page", "GET", e.pageURL("orders", 2), "", nil, 200, feed.MediaTypeFeed, headCC, "Accept-Encoding"},
		{"entry", "GET", e.entryURL("orders", 4), "", nil, 200, feed.MediaTypeEntry, immutableCC, "Accept-Encoding"},
		{"append", "POST", e.url("orders"), `{"n":5}`, []string{"Content-Type: application/json", "Event-Type: order.paid"}, 201, feed.MediaTypeEntry, "no-store", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.url, strings.NewReader(tt.body), tt.headers...)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.StatusCode, tt.status, r.body)
			}
			for _, h := range []struct{ name, want string }{
				{"Content-Type", tt.contentType},
				{"Cache-Control", tt.cacheControl},
				{"Vary", tt.vary},
				{"Content-Length", strconv.Itoa(len(r.body))},
			} {
				if got := r.Header.Get(h.name); got != h.want {
					t.Errorf("%s: %q, want %q", h.name, got, h.want)
				}
			}
			if et := r.Header.Get("ETag"); !strings.HasPrefix(et, `"`) || !strings.HasSuffix(et, `"`) || len(et) < 3 {
				t.Errorf("ETag %q, want a strong entity tag", et)
			}
			// Only entries have a date: every other URL names other bytes
			// as the feed grows (see TestDatesNeverValidate).
			if lm := r.Header.Get("Last-Modified"); (lm != "") != (tt.name == "entry") {
				t.Errorf("Last-Modified %q on the %s", lm, tt.name)
			}
		})
	}
}

// atomDoc parses an Atom feed document with gofeed's Atom parser, an
// independent reader.
func atomDoc(t *testing.T, b []byte) *atom.Feed {
	t.Helper()
	f, err := (&atom.Parser{}).Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gofeed cannot read the document: %v\n%s", err, b)
	}
	return f
}

// links returns the links of a document by rel, resolved against its URL.
// links returns the links of a document by rel, resolved against its URL;
// alternates by "alternate " and their type.
func links(t *testing.T, docURL string, ls []*atom.Link) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for _, l := range ls {
		key := l.Rel
		if key == "alternate" {
			key += " " + l.Type
		}
		if _, dup := m[key]; dup {
			t.Errorf("%s: two links %q", docURL, key)
		}
		m[key] = resolve(t, docURL, l.Href)
	}
	return m
}

func isArchive(f *atom.Feed) bool { return len(f.Extensions["fh"]["archive"]) > 0 }

func entrySeqs(t *testing.T, f *atom.Feed) []int {
	t.Helper()
	var seqs []int
	for _, e := range f.Entries {
		s := e.Extensions["ef"]["seq"]
		if len(s) != 1 {
			t.Fatalf("entry %s has %d ef:seq", e.ID, len(s))
		}
		n, err := strconv.Atoi(s[0].Value)
		if err != nil {
			t.Fatalf("entry %s: ef:seq %q", e.ID, s[0].Value)
		}
		seqs = append(seqs, n)
	}
	return seqs
}

func seqRange(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestPageLinks checks the links, entries and archive marks of every
// document of feeds whose head falls inside a page, at its end, and in the
// first page, with relative links (mounted under a prefix) and with a
// BaseURL.
func TestPageLinks(t *testing.T) {
	for _, mode := range []string{"relative", "BaseURL"} {
		t.Run(mode, func(t *testing.T) {
			cfg := publisher.Config{}
			e := newEnv(t, 3, cfg)
			if mode == "BaseURL" {
				// A second handler over the same log, configured with
				// the absolute URL it is reachable at.
				h, err := publisher.New(e.log, publisher.Config{BaseURL: e.base})
				if err != nil {
					t.Fatal(err)
				}
				e.mount(h, "/feeds")
			}
			for _, head := range []int{7, 6, 2, 3} {
				name := fmt.Sprintf("h%d", head)
				e.add(name, 0, head)
				checkFeedLinks(t, e, name, head, mode == "BaseURL")
			}
		})
	}
}

func checkFeedLinks(t *testing.T, e *env, name string, head int, absolute bool) {
	t.Helper()
	n := e.feed(name).PageSize
	working := head/n + 1
	subURL := e.url(name)
	checkHref := func(doc *atom.Feed) {
		for _, l := range doc.Links {
			if absolute != strings.HasPrefix(l.Href, "http://") {
				t.Errorf("%s: href %q, want absolute=%v", name, l.Href, absolute)
			}
		}
	}

	sub := atomDoc(t, e.mustGet(subURL).body)
	checkHref(sub)
	want := map[string]string{
		"self": subURL, "current": subURL, "via": e.pageURL(name, working), "first": e.pageURL(name, 1),
		"alternate " + feed.MediaTypeRSS:      e.url(name + "/rss"),
		"alternate " + feed.MediaTypeJSONFeed: e.url(name + "/json"),
	}
	if working > 1 {
		want["prev-archive"] = e.pageURL(name, working-1)
	}
	want["alternate application/cloudevents-batch+json"] = subURL + "/events" // the http-feed (httpfeed.go)
	if got := links(t, subURL, sub.Links); !mapsEqual(got, want) {
		t.Errorf("%s head %d: subscription links %v, want %v", name, head, got, want)
	}
	if got, want := entrySeqs(t, sub), seqRange((working-1)*n+1, head); !slices.Equal(got, want) {
		t.Errorf("%s head %d: subscription entries %v, want %v", name, head, got, want)
	}
	if isArchive(sub) {
		t.Errorf("%s: the subscription document is marked fh:archive", name)
	}
	if len(sub.Authors) == 0 || sub.ID == "" {
		t.Errorf("%s: subscription document without author or id", name)
	}

	for k := 1; k <= working; k++ {
		pageURL := e.pageURL(name, k)
		r := e.mustGet(pageURL)
		doc := atomDoc(t, r.body)
		checkHref(doc)
		full := k < working
		want := map[string]string{"self": pageURL, "current": subURL,
			"alternate " + feed.MediaTypeRSS:      e.url(fmt.Sprintf("%s/%s/rss/%d", name, e.feed(name).Epoch, k)),
			"alternate " + feed.MediaTypeJSONFeed: e.url(fmt.Sprintf("%s/%s/json/%d", name, e.feed(name).Epoch, k)),
		}
		if k > 1 {
			want["prev-archive"] = e.pageURL(name, k-1)
		}
		if full {
			want["next-archive"] = e.pageURL(name, k+1)
		}
		if got := links(t, pageURL, doc.Links); !mapsEqual(got, want) {
			t.Errorf("%s head %d page %d: links %v, want %v", name, head, k, got, want)
		}
		if got, want := entrySeqs(t, doc), seqRange((k-1)*n+1, min(k*n, head)); !slices.Equal(got, want) {
			t.Errorf("%s head %d page %d: entries %v, want %v", name, head, k, got, want)
		}
		if isArchive(doc) != full {
			t.Errorf("%s head %d page %d: fh:archive %v, want %v", name, head, k, isArchive(doc), full)
		}
		if doc.ID != sub.ID {
			t.Errorf("%s page %d: atom:id %q, want the subscription document's %q", name, k, doc.ID, sub.ID)
		}
		wantCC := headCC
		if full {
			wantCC = immutableCC
		}
		if cc := r.Header.Get("Cache-Control"); cc != wantCC {
			t.Errorf("%s head %d page %d: Cache-Control %q, want %q", name, head, k, cc, wantCC)
		}
		// Every entry links to its entry document, which carries it.
		for _, en := range doc.Entries {
			self := links(t, pageURL, en.Links)["self"]
			entry := e.mustGet(self)
			if ct := entry.Header.Get("Content-Type"); ct != feed.MediaTypeEntry {
				t.Errorf("%s: Content-Type %q, want %q", self, ct, feed.MediaTypeEntry)
			}
			got, err := feed.DecodeEntry(bytes.NewReader(entry.body), feed.DecodeOptions{})
			if err != nil {
				t.Fatalf("%s: %v", self, err)
			}
			if got.ID != en.ID || resolve(t, self, got.Link("self")) != self {
				t.Errorf("%s: entry %q with self %q, want %q with itself", self, got.ID, got.Link("self"), en.ID)
			}
		}
	}
	checkProblem(t, "page after the working page", e.get(e.pageURL(name, working+1)), 404, "does not exist yet")
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestWorkingPageSameAsSubscription checks that the working page carries
// the subscription document's entries, as its permanent URL.
func TestWorkingPageSameAsSubscription(t *testing.T) {
	e := newEnv(t, 4, publisher.Config{})
	e.add("orders", 0, 6)
	sub := atomDoc(t, e.mustGet(e.url("orders")).body)
	via := links(t, e.url("orders"), sub.Links)["via"]
	page := atomDoc(t, e.mustGet(via).body)
	if got, want := entrySeqs(t, page), entrySeqs(t, sub); !slices.Equal(got, want) || len(got) != 2 {
		t.Errorf("working page entries %v, subscription entries %v, want the same two", got, want)
	}
}

// TestMountedAtRoot checks that relative links also work without a prefix.
func TestMountedAtRoot(t *testing.T) {
	e := newEnv(t, 2, publisher.Config{})
	e.mount(e.h, "")
	e.add("a", 0, 3)
	checkFeedLinks(t, e, "a", 3, false)
}

// TestPrefix checks a Handler given requests with their full path
// (Config.Prefix) instead of paths stripped by http.StripPrefix.
func TestPrefix(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	h, err := publisher.New(e.log, publisher.Config{Prefix: "/feeds"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	mux := http.NewServeMux()
	mux.Handle("/feeds/", h)
	e.mount(mux, "")
	e.base = e.srv.URL + "/feeds/"
	e.add("orders", 0, 7)
	checkFeedLinks(t, e, "orders", 7, false)
	if r := e.mustGet(e.url("")); !strings.Contains(string(r.body), `<collection href="orders">`) {
		t.Errorf("service document under the prefix lacks the feed:\n%s", r.body)
	}
	checkProblem(t, "a path under the prefix that is no resource", e.get(e.url("orders/x")), http.StatusNotFound, "")
}

// TestEntryContent checks that an entry carries the event.
func TestEntryContent(t *testing.T) {
	e := newEnv(t, 10, publisher.Config{})
	e.add("orders", 0, 1)
	r := e.mustGet(e.entryURL("orders", 1))
	en, err := feed.DecodeEntry(bytes.NewReader(r.body), feed.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := en.Event("orders")
	if err != nil {
		t.Fatal(err)
	}
	want := testEvent("orders", 1)
	want.Seq = 1
	want.ContentType = eventfeed.DefaultContentType
	if !got.SameContent(&want) || got.Seq != 1 {
		t.Errorf("entry carries %+v, want %+v", got, want)
	}
	if len(en.Authors) == 0 {
		t.Errorf("entry document without author")
	}
}

// TestServiceDocument checks the collections, and the app:accept that
// tells whether POST is open.
func TestServiceDocument(t *testing.T) {
	type collection struct {
		Href   string   `xml:"href,attr"`
		Title  string   `xml:"http://www.w3.org/2005/Atom title"`
		Accept []string `xml:"http://www.w3.org/2007/app accept"`
	}
	type service struct {
		XMLName     xml.Name     `xml:"http://www.w3.org/2007/app service"`
		Collections []collection `xml:"workspace>collection"`
	}
	for _, tt := range []struct {
		name   string
		cfg    publisher.Config
		accept string
	}{
		{"read-only", publisher.Config{}, ""},
		{"appendable", publisher.Config{Authorize: allowAll, Title: "Shop"}, feed.MediaTypeEntry},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 3, tt.cfg)
			e.add("b", 0, 1)
			e.add("a", 0, 1)
			r := e.mustGet(e.url("/"))
			var s service
			if err := xml.Unmarshal(r.body, &s); err != nil {
				t.Fatalf("%v\n%s", err, r.body)
			}
			if len(s.Collections) != 2 {
				t.Fatalf("%d collections, want 2:\n%s", len(s.Collections), r.body)
			}
			for i, name := range []string{"a", "b"} {
				c := s.Collections[i]
				if got := resolve(t, e.url("/"), c.Href); got != e.url(name) {
					t.Errorf("collection %d href %q → %s, want %s", i, c.Href, got, e.url(name))
				}
				if len(c.Accept) != 1 || c.Accept[0] != tt.accept {
					t.Errorf("collection %s accept %q, want one %q", name, c.Accept, tt.accept)
				}
				wantTitle := name
				if tt.cfg.Title != "" {
					wantTitle = tt.cfg.Title + ": " + name
				}
				if c.Title != wantTitle {
					t.Errorf("collection title %q, want %q", c.Title, wantTitle)
				}
			}
		})
	}
}

// TestConditional checks the 304 paths: If-None-Match (exact, weak, in a
// list, "*"), If-Modified-Since, on head documents and immutable ones.
func TestConditional(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{CacheMaxAge: 5 * time.Second})
	e.add("orders", 0, 4)
	for _, target := range []string{e.url("orders"), e.pageURL("orders", 2), e.pageURL("orders", 1), e.entryURL("orders", 2)} {
		first := e.mustGet(target)
		etag := first.Header.Get("ETag")
		// Only an entry has a Last-Modified; the others ignore dates.
		lastMod, dated := first.Header.Get("Last-Modified"), 304
		if lastMod == "" {
			lastMod, dated = first.Header.Get("Date"), 200
		}
		cc := first.Header.Get("Cache-Control")
		for _, tt := range []struct {
			name   string
			header string
			status int
		}{
			{"exact", "If-None-Match: " + etag, 304},
			{"weak", "If-None-Match: W/" + etag, 304},
			{"list", `If-None-Match: "x", ` + etag, 304},
			{"star", "If-None-Match: *", 304},
			{"other", `If-None-Match: "x"`, 200},
			{"gzip tag without gzip", "If-None-Match: " + strings.TrimSuffix(etag, `"`) + `-gz"`, 200},
			{"modified since", "If-Modified-Since: " + lastMod, dated},
			{"modified since earlier", "If-Modified-Since: " + time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat), 200},
			{"etag decides over date", `If-None-Match: "x"` + "\x00If-Modified-Since: " + lastMod, 200},
		} {
			hs := strings.Split(tt.header, "\x00")
			r := e.get(target, hs...)
			if r.StatusCode != tt.status {
				t.Errorf("%s %s: status %d, want %d", target, tt.name, r.StatusCode, tt.status)
				continue
			}
			if tt.status == 304 {
				if r.Header.Get("ETag") != etag || r.Header.Get("Cache-Control") != cc || len(r.body) != 0 {
					t.Errorf("%s %s: 304 with ETag %q Cache-Control %q body %q, want %q %q and none",
						target, tt.name, r.Header.Get("ETag"), r.Header.Get("Cache-Control"), r.body, etag, cc)
				}
			}
		}
	}
	if cc := e.mustGet(e.url("orders")).Header.Get("Cache-Control"); cc != "public, max-age=5, must-revalidate" {
		t.Errorf("Cache-Control %q with CacheMaxAge 5s", cc)
	}

	// After an append the head documents' ETag changes; a full page's not.
	sub, full := e.mustGet(e.url("orders")), e.mustGet(e.pageURL("orders", 1))
	e.add("orders", 4, 5)
	if r := e.get(e.url("orders"), "If-None-Match: "+sub.Header.Get("ETag")); r.StatusCode != 200 {
		t.Errorf("subscription after an append: status %d, want 200", r.StatusCode)
	}
	if r := e.get(e.pageURL("orders", 1), "If-None-Match: "+full.Header.Get("ETag")); r.StatusCode != 304 {
		t.Errorf("full page after an append: status %d, want 304", r.StatusCode)
	}

	// An immutable entry takes any date since its own.
	later := time.Now().UTC().Format(http.TimeFormat)
	if r := e.get(e.entryURL("orders", 1), "If-Modified-Since: "+later); r.StatusCode != 304 {
		t.Errorf("entry If-Modified-Since now: status %d, want 304", r.StatusCode)
	}
}

// TestDatesNeverValidate is the regression test of a stale 304 made
// immutable: a client holding the working page, or an older subscription
// document, revalidates with If-Modified-Since alone (the date it was
// given, or its copy's Date), in the same second as the appends that
// changed them, with events stamped by their producers at one time. It
// must get the document as it is now, never 304.
func TestDatesNeverValidate(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	stamp := time.Now().Add(-time.Hour).UTC()
	add := func(i int) {
		t.Helper()
		ev := testEvent("orders", i)
		ev.Time = stamp
		if _, err := e.mem.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	add(1)
	sub, page := e.mustGet(e.url("orders")), e.mustGet(e.pageURL("orders", 1))
	add(2)
	add(3) // page 1 is full now
	// Every date the client could hold: the Last-Modified it was given
	// (none now), its copy's Date, the events' time, and now.
	now := time.Now().UTC().Format(http.TimeFormat)
	for _, held := range []response{sub, page} {
		target := held.Request.URL.String()
		for _, date := range []string{held.Header.Get("Last-Modified"), held.Header.Get("Date"), stamp.Format(http.TimeFormat), now} {
			if date == "" {
				continue
			}
			r := e.get(target, "If-Modified-Since: "+date)
			if r.StatusCode != 200 || bytes.Equal(r.body, held.body) {
				t.Errorf("GET %s If-Modified-Since %s, holding %d bytes: status %d (Cache-Control %q) with %d bytes; want 200 with the document as it is now",
					target, date, len(held.body), r.StatusCode, r.Header.Get("Cache-Control"), len(r.body))
			}
		}
	}
	// The full page still answers its own ETag.
	full := e.mustGet(e.pageURL("orders", 1))
	if r := e.get(e.pageURL("orders", 1), "If-None-Match: "+full.Header.Get("ETag")); r.StatusCode != 304 || r.Header.Get("Cache-Control") != immutableCC {
		t.Errorf("full page with its own ETag: %d %q, want 304 immutable", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if r := e.get(e.pageURL("orders", 1), "If-None-Match: "+page.Header.Get("ETag")); r.StatusCode != 200 {
		t.Errorf("full page with the working page's ETag: %d, want 200", r.StatusCode)
	}
}

// TestHead checks that HEAD answers like GET without a body.
func TestHead(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 4)
	for _, target := range []string{e.url("/"), e.url("orders"), e.pageURL("orders", 1), e.pageURL("orders", 2), e.entryURL("orders", 1)} {
		for _, enc := range []string{"identity", "gzip"} {
			get := e.mustGet(target, "Accept-Encoding: "+enc)
			head := e.do(http.MethodHead, target, nil, "Accept-Encoding: "+enc)
			if head.StatusCode != 200 || len(head.body) != 0 {
				t.Errorf("HEAD %s: status %d, %d bytes of body; want 200 and none", target, head.StatusCode, len(head.body))
			}
			for _, name := range []string{"Content-Type", "Content-Length", "Content-Encoding", "ETag", "Cache-Control", "Vary", "Last-Modified"} {
				if g, h := get.Header.Get(name), head.Header.Get(name); g != h {
					t.Errorf("HEAD %s (%s): %s %q, GET has %q", target, enc, name, h, g)
				}
			}
			if head.Header.Get("Content-Length") != strconv.Itoa(len(get.body)) {
				t.Errorf("HEAD %s: Content-Length %q, body is %d", target, head.Header.Get("Content-Length"), len(get.body))
			}
		}
	}
	checkProblem(t, "HEAD of a missing page", e.do(http.MethodHead, e.pageURL("orders", 9), nil), 404, "")
}

// TestGzip checks content coding: gzipped when asked, the same document,
// its own ETag.
func TestGzip(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 5)
	for _, target := range []string{e.url("orders"), e.pageURL("orders", 1), e.pageURL("orders", 2), e.entryURL("orders", 1), e.url("/")} {
		plain := e.mustGet(target)
		if plain.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s without Accept-Encoding: Content-Encoding %q", target, plain.Header.Get("Content-Encoding"))
		}
		for _, tt := range []struct {
			accept string
			gzip   bool
		}{
			{"gzip", true},
			{"br, gzip;q=0.8", true},
			{"*", true},
			{"gzip;q=0", false},
			{"*;q=0, identity", false},
			{"identity", false},
			{"gzip;q=0.5, identity;q=1", false},
			{"x-gzip", true},
		} {
			r := e.mustGet(target, "Accept-Encoding: "+tt.accept)
			got := r.Header.Get("Content-Encoding") == "gzip"
			if got != tt.gzip {
				t.Errorf("%s Accept-Encoding %q: gzipped %v, want %v", target, tt.accept, got, tt.gzip)
				continue
			}
			body := r.body
			if got {
				body = gunzip(t, r.body)
				if r.Header.Get("ETag") == plain.Header.Get("ETag") {
					t.Errorf("%s: gzip and identity share ETag %s", target, r.Header.Get("ETag"))
				}
			}
			if !bytes.Equal(body, plain.body) {
				t.Errorf("%s Accept-Encoding %q: body differs from the identity one", target, tt.accept)
			}
			if !strings.Contains(r.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("%s: Vary %q lacks Accept-Encoding", target, r.Header.Get("Vary"))
			}
		}
	}
	// A 304 answers the gzip ETag when gzip is asked.
	gz := e.mustGet(e.pageURL("orders", 1), "Accept-Encoding: gzip")
	if r := e.get(e.pageURL("orders", 1), "Accept-Encoding: gzip", "If-None-Match: "+gz.Header.Get("ETag")); r.StatusCode != 304 {
		t.Errorf("gzip ETag with gzip: status %d, want 304", r.StatusCode)
	}
}

// TestGofeedReadsLinks checks that gofeed's Atom parser reads our
// documents with their links, and that following them (resolved against
// each document's URL, as RFC 4287 says) walks the whole feed.
func TestGofeedReadsLinks(t *testing.T) {
	e := newEnv(t, 5, publisher.Config{})
	e.add("orders", 0, 17)
	sub := atomDoc(t, e.mustGet(e.url("orders")).body)
	next := links(t, e.url("orders"), sub.Links)["first"]
	var seqs []int
	for next != "" {
		doc := atomDoc(t, e.mustGet(next).body)
		for _, en := range doc.Entries {
			// RFC 4287 §4.1.3.3: JSON in Base64, which gofeed hands over
			// as written.
			if en.Content == nil || en.Content.Type != "application/json" {
				t.Errorf("%s: entry %s content %+v, want application/json", next, en.ID, en.Content)
			} else if data, err := base64.StdEncoding.DecodeString(en.Content.Value); err != nil || !json.Valid(data) {
				t.Errorf("%s: entry %s content %q, want JSON in Base64", next, en.ID, en.Content.Value)
			}
			if len(en.Categories) != 1 || en.Categories[0].Term != "order.placed" {
				t.Errorf("%s: entry %s categories %+v", next, en.ID, en.Categories)
			}
		}
		seqs = append(seqs, entrySeqs(t, doc)...)
		next = links(t, next, doc.Links)["next-archive"]
	}
	if want := seqRange(1, 17); !slices.Equal(seqs, want) {
		t.Errorf("walked seqs %v, want %v", seqs, want)
	}
}

// TestBadInput checks that requests naming nothing are answered with a
// problem document and change nothing.
func TestBadInput(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Authorize: allowAll, MaxBodyBytes: 1024})
	e.add("orders", 0, 3)
	// Event 4 was appended with an Idempotency-Key.
	if r := e.do("POST", e.url("orders"), strings.NewReader(`{"n":4}`), "Content-Type: application/json",
		"Event-Type: order.placed", "Idempotency-Key: k-4"); r.StatusCode != 201 {
		t.Fatalf("POST: status %d: %s", r.StatusCode, r.body)
	}
	ep := e.feed("orders").Epoch
	entry := func(id, typ string) string {
		return `<entry xmlns="http://www.w3.org/2005/Atom"><id>` + id + `</id><title>t</title><updated>2026-11-26T12:00:00Z</updated>` +
			`<category term="` + typ + `"/><content type="application/json">{"a":1}</content></entry>`
	}
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		detail                   string
	}{
		{"unknown feed", "GET", "nope", "", nil, 404, `feed "nope" does not exist`},
		{"invalid feed name", "GET", "Orders", "", nil, 404, "does not exist"},
		{"unknown feed page", "GET", "nope/" + ep + "/pages/1", "", nil, 404, "does not exist"},
		{"page 0", "GET", "orders/" + ep + "/pages/0", "", nil, 404, "numbered from 1"},
		{"page -1", "GET", "orders/" + ep + "/pages/-1", "", nil, 404, "numbered from 1"},
		{"page abc", "GET", "orders/" + ep + "/pages/abc", "", nil, 404, "numbered from 1"},
		{"page 01", "GET", "orders/" + ep + "/pages/01", "", nil, 404, "numbered from 1"},
		{"page huge", "GET", "orders/" + ep + "/pages/99999999999999999999999", "", nil, 404, "numbered from 1"},
		{"page beyond the working page", "GET", "orders/" + ep + "/pages/3", "", nil, 404, "working page is 2"},
		{"entry 0", "GET", "orders/" + ep + "/entries/0", "", nil, 404, "entries are 1 to 4"},
		{"entry beyond the head", "GET", "orders/" + ep + "/entries/5", "", nil, 404, "entries are 1 to 4"},
		{"other epoch page", "GET", "orders/0123456789abcdef/pages/1", "", nil, 404, "was reset"},
		{"other epoch entry", "GET", "orders/0123456789abcdef/entries/1", "", nil, 404, "was reset"},
		// Tokens no epoch could be: a plain 404, not a reset.
		{"malformed epoch 0", "GET", "orders/0/pages/1", "", nil, 404, "has no epoch"},
		{"malformed epoch, 15 digits", "GET", "orders/" + ep[:15] + "/pages/1", "", nil, 404, "has no epoch"},
		{"malformed epoch, upper case", "GET", "orders/" + strings.ToUpper(ep) + "/entries/1", "", nil, 404, "has no epoch"},
		{"malformed epoch, 17 digits", "GET", "orders/" + ep + "0/entries/1", "", nil, 404, "has no epoch"},
		{"unknown path", "GET", "orders/" + ep + "/other/1", "", nil, 404, "no such resource"},
		{"trailing slash", "GET", "orders/" + ep + "/pages/1/", "", nil, 404, "no such resource"},
		{"PUT feed", "PUT", "orders", "x", nil, 405, "PUT is not allowed"},
		{"DELETE page", "DELETE", "orders/" + ep + "/pages/1", "", nil, 405, "DELETE is not allowed"},
		{"POST entry", "POST", "orders/" + ep + "/entries/1", "x", nil, 405, "POST is not allowed"},
		{"POST service", "POST", "", "x", nil, 405, "POST is not allowed"},
		{"no content type", "POST", "orders", "x", nil, 415, "Content-Type is missing"},
		{"malformed content type", "POST", "orders", "x", []string{"Content-Type: /"}, 415, "not a media type"},
		{"feed document", "POST", "orders", "<feed/>", []string{"Content-Type: application/atom+xml;type=feed"}, 415, "one entry"},
		{"malformed Atom", "POST", "orders", "<entry xmlns='http://www.w3.org/2005/Atom'><id>x</id", []string{"Content-Type: application/atom+xml"}, 400, "cannot be read"},
		{"not an entry", "POST", "orders", "<feed xmlns='http://www.w3.org/2005/Atom'/>", []string{"Content-Type: application/atom+xml"}, 400, "not an Atom"},
		{"oversize Atom", "POST", "orders", entry("urn:x:big", strings.Repeat("t", 2000)), []string{"Content-Type: application/atom+xml;type=entry"}, 413, "too large"},
		{"oversize raw", "POST", "orders", strings.Repeat("x", 1025), []string{"Content-Type: text/plain", "Event-Type: t"}, 413, "too large"},
		{"no Event-Type", "POST", "orders", "{}", []string{"Content-Type: application/json"}, 400, "Event-Type header is missing"},
		{"invalid event type", "POST", "orders", "{}", []string{"Content-Type: application/json", "Event-Type: a\tb"}, 400, "control character"},
		{"invalid feed name", "POST", "Orders", "{}", []string{"Content-Type: application/json", "Event-Type: t"}, 400, "invalid feed name"},
		{"ID reuse with other data", "POST", "orders", `{"other":1}`, []string{"Content-Type: application/json", "Event-Type: order.placed",
			"Idempotency-Key: k-4"}, 409, "already used"},
		{"atom:id reuse with other data", "POST", "orders", entry(testEvent("orders", 2).ID, "order.placed"),
			[]string{"Content-Type: application/atom+xml"}, 409, "already used"},
		{"bad Idempotency-Key", "POST", "orders", "{}", []string{"Content-Type: application/json", "Event-Type: t", `Idempotency-Key: "abc`}, 400, "not a quoted string"},
	}
	before, err := e.mem.Feeds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var r response
			if body != nil {
				r = e.do(tt.method, e.url(tt.path), body, tt.headers...)
			} else {
				r = e.do(tt.method, e.url(tt.path), nil, tt.headers...)
			}
			p := checkProblem(t, tt.name, r, tt.status, tt.detail)
			if tt.status == 405 && r.Header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			if strings.Contains(tt.name, "other epoch") {
				if p.Type != eventfeed.ProblemFeedReset || resolve(t, r.Request.URL.String(), p.Current) != e.url("orders") {
					t.Errorf("reset problem type %q current %q, want %q and the subscription URL", p.Type, p.Current, eventfeed.ProblemFeedReset)
				}
			} else if p.Type != "" || p.Current != "" {
				t.Errorf("problem type %q current %q, want neither", p.Type, p.Current)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q on an error, want no-store", cc)
			}
		})
	}
	after, err := e.mem.Feeds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Errorf("feeds changed: before %+v, after %+v", before, after)
	}
	if got := e.h.Stats().ClientErrors; got != uint64(len(tests)) {
		t.Errorf("Stats().ClientErrors = %d, want %d", got, len(tests))
	}
}

// TestFeedReset checks that URLs of the old epoch answer 404 with the
// reset problem once a feed's epoch changes, and that a long poll does not
// carry the old epoch's URL into the new one.
func TestFeedReset(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 4)
	oldPage, oldEntry := e.pageURL("orders", 1), e.entryURL("orders", 1)
	e.mustGet(oldPage)
	suffix := "x"
	e.log.epochSuffix.Store(&suffix)
	for _, target := range []string{oldPage, oldEntry} {
		p := checkProblem(t, "old epoch", e.get(target), 404, "was reset")
		if p.Type != eventfeed.ProblemFeedReset {
			t.Errorf("%s: problem type %q, want %q", target, p.Type, eventfeed.ProblemFeedReset)
		}
	}
	e.mustGet(e.pageURL("orders", 1))
}

// TestPageSizeFixed checks that a feed cut in other pages than configured
// is refused, reading and appending, and that the refusal is logged.
func TestPageSizeFixed(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{PageSize: 50, Authorize: allowAll})
	e.add("orders", 0, 4)
	for _, r := range []response{
		e.get(e.url("orders")),
		e.get(e.pageURL("orders", 1)),
		e.do("POST", e.url("orders"), strings.NewReader("{}"), "Content-Type: application/json", "Event-Type: t"),
	} {
		checkProblem(t, r.Request.Method+" "+r.Request.URL.Path, r, 500, "page size 3")
	}
	if e.feed("orders").Head != 4 {
		t.Errorf("the append was stored")
	}
	if !strings.Contains(e.logs.String(), eventfeed.ErrPageSizeMismatch.Error()) {
		t.Errorf("log %q does not report %v", e.logs.String(), eventfeed.ErrPageSizeMismatch)
	}
	ok := newEnv(t, 3, publisher.Config{PageSize: 3})
	ok.add("orders", 0, 4)
	ok.mustGet(ok.url("orders"))
}

func TestNewRejects(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	for _, cfg := range []publisher.Config{
		{PageSize: -1},
		{PageSize: 10001},
		{BaseURL: "feeds/"},
		{BaseURL: "http://example.com/feeds/?x=1"},
		{BaseURL: "http://example.com/feeds/#x"},
		{BaseURL: "://x"},
		{Prefix: "feeds"},
		{Prefix: "/feeds/"},
		{Prefix: "/"},
		{Prefix: "/{feed}"},
		{Prefix: "/a b"},
	} {
		if _, err := publisher.New(e.log, cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
	if _, err := publisher.New(nil, publisher.Config{}); err == nil {
		t.Errorf("New(nil) succeeded")
	}
	for _, prefix := range []string{"/feeds", "/api/v1/feeds"} {
		if _, err := publisher.New(e.log, publisher.Config{Prefix: prefix}); err != nil {
			t.Errorf("New with Prefix %q: %v", prefix, err)
		}
	}
	for _, base := range []string{"/feeds", "/feeds/", "https://example.com", "https://example.com/a/feeds"} {
		if _, err := publisher.New(e.log, publisher.Config{BaseURL: base}); err != nil {
			t.Errorf("New with BaseURL %q: %v", base, err)
		}
	}
}

// TestBaseURLPath checks links under a BaseURL that is a path.
func TestBaseURLPath(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{BaseURL: "/feeds"})
	e.add("orders", 0, 4)
	sub := atomDoc(t, e.mustGet(e.url("orders")).body)
	if got := sub.Links[0].Href; got != "/feeds/orders" {
		t.Errorf("self href %q, want /feeds/orders", got)
	}
	checkFeedLinks(t, e, "orders", 4, false)
}

// TestNoReadsWhenCached checks that serving cached full pages and entries
// and answering 304 at the head read nothing from the store.
func TestNoReadsWhenCached(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 7)
	urls := []string{e.pageURL("orders", 1), e.pageURL("orders", 2), e.entryURL("orders", 5)}
	for _, u := range urls {
		e.mustGet(u)
		e.mustGet(u, "Accept-Encoding: gzip")
	}
	head := e.mustGet(e.url("orders"))
	wp := e.mustGet(e.pageURL("orders", 3))
	reads := e.log.reads.Load()
	hits := e.h.Stats().CacheHits
	for range 20 {
		for _, u := range urls {
			e.mustGet(u)
			e.mustGet(u, "Accept-Encoding: gzip")
		}
		for _, r := range []response{
			e.get(e.url("orders"), "If-None-Match: "+head.Header.Get("ETag")),
			e.get(e.pageURL("orders", 3), "If-None-Match: "+wp.Header.Get("ETag")),
		} {
			if r.StatusCode != 304 {
				t.Fatalf("%s: status %d, want 304", r.Request.URL, r.StatusCode)
			}
		}
		e.mustGet(e.url("orders")) // rendered once per head
	}
	if got := e.log.reads.Load() - reads; got != 0 {
		t.Errorf("%d store reads serving cached documents, want 0", got)
	}
	if got := e.h.Stats().CacheHits - hits; got != 20*6 {
		t.Errorf("%d cache hits, want %d", got, 20*6)
	}
}

// TestCacheBounds checks that the page cache keeps to its byte bound.
func TestCacheBounds(t *testing.T) {
	e := newEnv(t, 2, publisher.Config{PageCacheBytes: 4096, PageCacheSize: 100})
	e.add("orders", 0, 40)
	for k := 1; k <= 20; k++ {
		e.mustGet(e.pageURL("orders", k))
		if s := e.h.Stats(); s.CachedBytes > 4096 && s.CachedDocs > 1 {
			t.Fatalf("after page %d: %d bytes in %d documents, limit 4096", k, s.CachedBytes, s.CachedDocs)
		}
	}
	if s := e.h.Stats(); s.CachedDocs == 0 || s.CachedDocs >= 20 {
		t.Errorf("%d documents cached, want some and not all", s.CachedDocs)
	}
	small := newEnv(t, 2, publisher.Config{PageCacheSize: 3})
	small.add("orders", 0, 40)
	for k := 1; k <= 10; k++ {
		small.mustGet(small.pageURL("orders", k))
	}
	if s := small.h.Stats(); s.CachedDocs != 3 {
		t.Errorf("%d documents cached with PageCacheSize 3", s.CachedDocs)
	}
}

// TestStoreFailure checks that a failing store answers 500 without
// showing its error, and logs it.
func TestStoreFailure(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 4)
	e.mem.Close()
	r := e.get(e.url("orders"))
	p := checkProblem(t, "closed store", r, 500, "")
	if strings.Contains(p.Detail, "closed") {
		t.Errorf("problem detail %q shows the store's error", p.Detail)
	}
	if !strings.Contains(e.logs.String(), eventfeed.ErrClosed.Error()) {
		t.Errorf("log %q does not hold the store's error", e.logs.String())
	}
	if e.h.Stats().ServerErrors != 1 {
		t.Errorf("ServerErrors %d, want 1", e.h.Stats().ServerErrors)
	}
}

var errNoToken = errors.New("no token")

// TestETagsAcrossInstances checks that two publishers with the same Config
// over one log give the same ETags (instances behind a load balancer),
// and that one with another Config gives other ETags for its head
// documents, whose bytes differ.
func TestETagsAcrossInstances(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Title: "Shop"})
	e.add("orders", 0, 4)
	twin, err := publisher.New(e.log, publisher.Config{Title: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := publisher.New(e.log, publisher.Config{Title: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"orders", e.pageURL("orders", 1), e.pageURL("orders", 2), e.entryURL("orders", 1)}
	tags := func() []string {
		var s []string
		for _, target := range targets {
			for _, enc := range []string{"identity", "gzip"} {
				s = append(s, e.mustGet(e.url(strings.TrimPrefix(target, e.base)), "Accept-Encoding: "+enc).Header.Get("ETag"))
			}
		}
		return s
	}
	first := tags()
	e.mount(twin, "/feeds")
	if got := tags(); !slices.Equal(got, first) {
		t.Errorf("same Config: ETags %q, want %q", got, first)
	}
	e.mount(other, "/feeds")
	got := tags()
	for i := range got {
		// Entries carry no title: their bytes and ETags stay.
		if same := got[i] == first[i]; same != (i >= 6) {
			t.Errorf("other Title: ETag %d %s (was %s), want same=%v", i, got[i], first[i], i >= 6)
		}
	}
}
