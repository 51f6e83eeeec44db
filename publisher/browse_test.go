package publisher_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
)

// hostileEvents are events whose every field a browser could be tricked
// into running, were it not escaped.
func hostileEvents(name string) []eventfeed.Event {
	const script = `<script>window.__pwned=1;new Image().src="/pwned"</script>`
	const img = `"><img src=x onerror="window.__pwned=1;new Image().src='/pwned'">`
	return []eventfeed.Event{
		{Feed: name, ID: "urn:x:" + script, Type: "t" + img, Subject: "javascript:window.__pwned=1", ContentType: "text/html", Data: []byte(script + img)},
		{Feed: name, ID: "urn:x:2", Type: script, Subject: img, ContentType: "application/json", Data: []byte(`{"k":"` + strings.ReplaceAll(script, `"`, `\"`) + `","line":"\u2028\u2029"}`)},
		{Feed: name, ID: "urn:x:3", Type: "xml\u2028type", Subject: "s\u2029", ContentType: "application/xml", Data: []byte(`<a onclick="window.__pwned=1"><script>window.__pwned=1</script></a>`)},
		{Feed: name, ID: "urn:x:4", Type: "bin", Subject: "s", ContentType: "application/octet-stream", Data: []byte("<script>\x00\xff")},
		{Feed: name, ID: "urn:x:5", Type: "utf8", Subject: "s", ContentType: "application/json", Data: []byte("{\"s\":\"\xff\xfeinvalid\"}")},
	}
}

var (
	tagRE     = regexp.MustCompile(`(?i)<\s*(script|img|a\s+onclick)`)
	handlerRE = regexp.MustCompile(`(?i)<[a-z][^<>]*\son[a-z]+\s*=`)
)

// TestBrowseHostile serves events full of markup and checks that every
// view escapes it: the only script a view loads is its own file, no
// attribute a browser would run comes from the data, invalid UTF-8 is
// replaced, and the headers forbid inline script anyway.
func TestBrowseHostile(t *testing.T) {
	e := newEnv(t, 10, publisher.Config{Browse: true})
	if _, err := e.mem.Append(context.Background(), hostileEvents("evil")...); err != nil {
		t.Fatal(err)
	}
	f := e.feed("evil")
	views := []string{
		e.url("~/"),
		e.url("~/evil"),
		e.url(fmt.Sprintf("~/evil/%s/pages/1", f.Epoch)),
	}
	for seq := 1; seq <= 5; seq++ {
		views = append(views, e.url(fmt.Sprintf("~/evil/%s/entries/%d", f.Epoch, seq)))
	}
	for _, u := range views {
		r := e.mustGet(u)
		body := string(r.body)
		for _, m := range tagRE.FindAllString(body, -1) {
			if !strings.EqualFold(m, "<script") {
				t.Errorf("%s: data made markup %q", u, m)
			}
		}
		if n := strings.Count(body, "<script"); n != 1 {
			t.Errorf("%s: %d <script elements, want 1 (the view's own)", u, n)
		}
		if m := handlerRE.FindString(body); m != "" {
			t.Errorf("%s: an event handler attribute came through unescaped: %s", u, m)
		}
		if !utf8.Valid(r.body) {
			t.Errorf("%s: the view is not valid UTF-8", u)
		}
		for name, want := range map[string]string{
			"Content-Type":           "text/html; charset=utf-8",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := r.Header.Get(name); got != want {
				t.Errorf("%s: %s %q, want %q", u, name, got, want)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q, want scripts of 'self' only", u, csp)
		}
	}
	r := e.mustGet(e.url(fmt.Sprintf("~/evil/%s/entries/4", f.Epoch)))
	for _, want := range []string{"3c 73 63 72 69 70 74 3e  00 ff", "|&lt;script&gt;..|"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("binary event view lacks %q", want)
		}
	}
	if r := e.mustGet(e.url(fmt.Sprintf("~/evil/%s/entries/5", f.Epoch))); !strings.Contains(string(r.body), "\uFFFDinvalid") {
		t.Errorf("invalid UTF-8 in a payload is not replaced:\n%s", r.body)
	}
	r = e.mustGet(e.url(fmt.Sprintf("~/evil/%s/entries/2", f.Epoch)))
	if !strings.Contains(string(r.body), "&lt;script&gt;window.__pwned=1;") {
		t.Errorf("JSON event view does not show the script as text:\n%s", r.body)
	}
}

// TestBrowseCaching checks that the views are cached as the Atom
// documents of the same content are: full pages and events for ever, the
// head and the working page revalidated, with strong ETags and 304s.
func TestBrowseCaching(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Browse: true})
	e.add("orders", 0, 7) // pages 1 and 2 full, 3 working
	f := e.feed("orders")
	cases := []struct {
		path, cc string
	}{
		{"~/", "public, max-age=0, must-revalidate"},
		{"~/orders", "public, max-age=0, must-revalidate"},
		{fmt.Sprintf("~/orders/%s/pages/1", f.Epoch), "public, max-age=31536000, immutable"},
		{fmt.Sprintf("~/orders/%s/pages/3", f.Epoch), "public, max-age=0, must-revalidate"},
		{fmt.Sprintf("~/orders/%s/entries/7", f.Epoch), "public, max-age=31536000, immutable"},
		{"~/static/app.js", "public, max-age=3600"},
		{"~/static/app.css", "public, max-age=3600"},
	}
	for _, c := range cases {
		r := e.mustGet(e.url(c.path))
		if got := r.Header.Get("Cache-Control"); got != c.cc {
			t.Errorf("%s: Cache-Control %q, want %q", c.path, got, c.cc)
		}
		etag := r.Header.Get("Etag")
		if !strings.HasPrefix(etag, `"`) {
			t.Errorf("%s: ETag %q, want a strong one", c.path, etag)
			continue
		}
		if nm := e.get(e.url(c.path), "If-None-Match: "+etag); nm.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: status %d, want 304", c.path, nm.StatusCode)
		}
	}
	// The working page's view changes with the head; a full page's never.
	working := e.mustGet(e.url(fmt.Sprintf("~/orders/%s/pages/3", f.Epoch)))
	full := e.mustGet(e.url(fmt.Sprintf("~/orders/%s/pages/2", f.Epoch)))
	e.add("orders", 7, 8)
	if r := e.get(e.url(fmt.Sprintf("~/orders/%s/pages/3", f.Epoch)), "If-None-Match: "+working.Header.Get("Etag")); r.StatusCode != http.StatusOK {
		t.Errorf("working page view after an append: status %d, want 200 with the new event", r.StatusCode)
	}
	if r := e.mustGet(e.url(fmt.Sprintf("~/orders/%s/pages/2", f.Epoch))); string(r.body) != string(full.body) {
		t.Errorf("a full page's view changed after an append")
	}

	for _, c := range []struct{ path, detail string }{
		{fmt.Sprintf("~/orders/%s/pages/4", f.Epoch), "does not exist"},
		{fmt.Sprintf("~/orders/%s/pages/0", f.Epoch), "does not exist"},
		{fmt.Sprintf("~/orders/%s/entries/9", f.Epoch), "has no entry"},
		{"~/nosuch", "does not exist"},
		{"~/static/nosuch.js", "no such file"},
	} {
		checkProblem(t, c.path, e.get(e.url(c.path)), http.StatusNotFound, c.detail)
	}
	checkProblem(t, "POST ~/orders", e.do(http.MethodPost, e.url("~/orders"), strings.NewReader("x")), http.StatusMethodNotAllowed, "not allowed")

	off := newEnv(t, 3, publisher.Config{})
	off.add("orders", 0, 1)
	if r := off.get(off.url("~/orders")); r.StatusCode != http.StatusNotFound {
		t.Errorf("without Config.Browse: ~/orders status %d, want 404", r.StatusCode)
	}
	if strings.Contains(string(off.mustGet(off.url("orders")).body), "text/html") {
		t.Errorf("without Config.Browse the subscription document links to an HTML view")
	}
}

// TestBrowseAlternate follows the rel="alternate" type="text/html" link of
// every kind of Atom document to the view of the same content.
func TestBrowseAlternate(t *testing.T) {
	for _, base := range []string{"", "/feeds/"} {
		t.Run("BaseURL="+base, func(t *testing.T) {
			e := newEnv(t, 3, publisher.Config{Browse: true, BaseURL: base})
			e.add("orders", 0, 5)
			docs := map[string]string{
				e.url("orders"):        "orders: newest events",
				e.pageURL("orders", 1): "orders: page 1",
				e.pageURL("orders", 2): "orders: page 2",
			}
			for doc, h1 := range docs {
				href := htmlAlternate(t, e.mustGet(doc).body)
				v := e.mustGet(resolve(t, doc, href))
				if !strings.Contains(string(v.body), "<h1>"+h1+"</h1>") {
					t.Errorf("%s: its HTML view %s has no heading %q", doc, href, h1)
				}
				// The view links back to the same document.
				if !strings.Contains(string(v.body), `type="application/atom+xml"`) {
					t.Errorf("%s: its HTML view links to no Atom document", doc)
				}
			}
			href := htmlAlternate(t, e.mustGet(e.entryURL("orders", 4)).body)
			v := e.mustGet(resolve(t, e.entryURL("orders", 4), href))
			if !strings.Contains(string(v.body), "<h1>orders: event 4</h1>") {
				t.Errorf("the entry's HTML view is not event 4's:\n%s", v.body)
			}
		})
	}
}

var htmlAlternateRE = regexp.MustCompile(`<link rel="alternate" href="([^"]+)" type="text/html"/>`)

// htmlAlternate returns the href of the one link to an HTML view in an
// Atom document.
func htmlAlternate(t *testing.T, doc []byte) string {
	t.Helper()
	m := htmlAlternateRE.FindAllSubmatch(doc, -1)
	if len(m) != 1 {
		t.Fatalf("%d links to an HTML view, want 1, in\n%s", len(m), doc)
	}
	return string(m[0][1])
}

// TestBrowseSize checks the page budget: a view of 100 events with about
// 300 bytes of JSON each stays under 100 KB before compression.
func TestBrowseSize(t *testing.T) {
	e := newEnv(t, 100, publisher.Config{Browse: true})
	evs := make([]eventfeed.Event, 100)
	for i := range evs {
		evs[i] = eventfeed.Event{
			Feed: "orders", ID: fmt.Sprintf("urn:uuid:0193a2b4-0000-7000-8000-%012d", i), Type: "order.placed", Subject: fmt.Sprintf("order-%d", i),
			Data: []byte(fmt.Sprintf(`{"order":"order-%06d","customer":"customer-4711","items":[{"sku":"sku-1","qty":2,"price":"19.90"},{"sku":"sku-2","qty":1,"price":"5.00"}],"total":"44.80","currency":"EUR","shipping":{"street":"Hauptstrasse 1","city":"Berlin","zip":"10115"},"note":"leave at the door"}`, i)),
		}
	}
	if _, err := e.mem.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	r := e.mustGet(e.url(fmt.Sprintf("~/orders/%s/pages/1", e.feed("orders").Epoch)))
	t.Logf("a view of 100 events of %d bytes of JSON: %d bytes", len(evs[0].Data), len(r.body))
	if len(r.body) >= 100_000 {
		t.Errorf("a view of 100 events is %d bytes, want under 100 KB", len(r.body))
	}
}
