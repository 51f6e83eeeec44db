package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/internal/testenv"
)

// TestNginxIgnoringVary puts nginx configured to ignore Vary, as several
// CDNs do with anything but Accept-Encoding, in front of "eventfeed
// serve". A feed reader asking for RSS first must not make the cache hand
// RSS to the Atom clients after it: every URL has one representation, and
// RSS and JSON Feed have URLs of their own.
func TestNginxIgnoringVary(t *testing.T) {
	nginx := testenv.Command(t, "nginx")
	dir := t.TempDir()
	mustRun(t, dir, "seed", "-feed", "orders", "-n", "250", "-size", "64")
	s := serve(t, dir)
	proxy := startNginx(t, nginx, strings.TrimPrefix(s.base, "http://"), "proxy_ignore_headers Vary;")

	_, sub := get(t, proxy+"/feeds/orders")
	first := regexp.MustCompile(`rel="first" href="([^"]+)"`).FindStringSubmatch(sub)
	if first == nil {
		t.Fatalf("subscription document through nginx has no first link:\n%s", sub)
	}
	page := proxy + "/feeds/" + first[1]

	// A feed reader asks the page's URL for RSS, and gets (and nginx
	// keeps) the one representation that URL has: Atom.
	for _, accept := range []string{altType("rss"), altType("json")} {
		resp, body := get(t, page, "Accept", accept)
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/atom+xml" {
			t.Fatalf("GET %s with Accept %s: %s %q, want 200 application/atom+xml", page, accept, resp.Status, ct)
		}
		if !strings.Contains(body, "<feed ") {
			t.Fatalf("GET %s with Accept %s: not an Atom feed:\n%.300s", page, accept, body)
		}
	}
	_, atomPage := get(t, page)
	// It finds RSS and JSON Feed through the alternate links instead.
	for typ, root := range map[string]string{altType("rss"): "<rss ", altType("json"): `"version": "https://jsonfeed.org/version/1.1"`} {
		m := regexp.MustCompile(`<link rel="alternate" href="([^"]+)" type="` + regexp.QuoteMeta(typ) + `"/>`).FindStringSubmatch(atomPage)
		if m == nil {
			t.Fatalf("page has no alternate of type %s:\n%.800s", typ, atomPage)
		}
		alt := resolve(t, page, m[1])
		for range 2 {
			resp, body := get(t, alt)
			if ct := resp.Header.Get("Content-Type"); ct != typ || !strings.Contains(body, root) {
				t.Errorf("GET %s: %q %.200q, want %s", alt, ct, body, typ)
			}
		}
		if resp, _ := get(t, alt); resp.Header.Get("X-Cache-Status") != "HIT" {
			t.Errorf("GET %s again: X-Cache-Status %q, want HIT", alt, resp.Header.Get("X-Cache-Status"))
		}
	}
	// The Atom clients after them still get Atom, from the cache.
	for _, accept := range []string{"", "application/atom+xml", "*/*"} {
		resp, body := get(t, page, "Accept", accept)
		if ct := resp.Header.Get("Content-Type"); ct != "application/atom+xml" || !strings.Contains(body, "<feed ") {
			t.Errorf("GET %s with Accept %q after RSS and JSON Feed readers: %q %.200q, want Atom", page, accept, ct, body)
		}
		if got := resp.Header.Get("X-Cache-Status"); got != "HIT" {
			t.Errorf("GET %s: X-Cache-Status %q, want HIT", page, got)
		}
		if v := resp.Header.Get("Vary"); strings.Contains(v, "Accept,") || v == "Accept" {
			t.Errorf("GET %s: Vary %q names Accept", page, v)
		}
	}
}

// altType returns the media type of an alternate format.
func altType(format string) string {
	if format == "rss" {
		return "application/rss+xml"
	}
	return "application/feed+json"
}
