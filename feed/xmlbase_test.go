package feed_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
)

// TestXMLBase checks that xml:base (RFC 4287 §2, XML Base) changes what
// relative links and content src mean, element by element.
func TestXMLBase(t *testing.T) {
	const doc = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="xb/">
<id>urn:x</id><title>t</title><updated>2025-01-01T00:00:00Z</updated>
<link rel="next-archive" href="2.xml"/>
<link rel="self" href="/abs/self.xml"/>
<link rel="via" xml:base="../other/" href="v.xml"/>
<link rel="alternate" href="https://elsewhere.example/x"/>
<entry xml:base="http://cdn.example/a/">
  <id>e1</id><title>e</title><updated>2025-01-01T00:00:00Z</updated>
  <link rel="self" href="e1.xml"/>
  <content type="application/json" xml:base="b/" src="c.json"/>
</entry>
<entry>
  <id>e2</id><title>e</title><updated>2025-01-01T00:00:00Z</updated>
  <link rel="self" href="e2.xml"/>
</entry>
</feed>`
	base, _ := url.Parse("http://h.example/feeds/f")
	for _, tt := range []struct {
		name string
		base *url.URL
		want map[string]string
	}{
		{"with the document's URL", base, map[string]string{
			"next-archive": "http://h.example/feeds/xb/2.xml",
			"self":         "http://h.example/abs/self.xml",
			"via":          "http://h.example/feeds/other/v.xml",
			"alternate":    "https://elsewhere.example/x",
			"e1":           "http://cdn.example/a/e1.xml",
			"e1 src":       "http://cdn.example/a/b/c.json",
			"e2":           "http://h.example/feeds/xb/e2.xml",
		}},
		{"without it: absolute xml:base only", nil, map[string]string{
			"next-archive": "2.xml",
			"self":         "/abs/self.xml",
			"via":          "v.xml",
			"alternate":    "https://elsewhere.example/x",
			"e1":           "http://cdn.example/a/e1.xml",
			"e1 src":       "http://cdn.example/a/b/c.json",
			"e2":           "e2.xml",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := feed.Decode(strings.NewReader(doc), feed.DecodeOptions{Base: tt.base}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, l := range f.Links {
				got[l.Rel] = l.Href
			}
			for _, e := range f.Entries {
				got[e.ID] = e.Link("self")
				if e.Content.Src != "" {
					got[e.ID+" src"] = e.Content.Src
				}
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}
