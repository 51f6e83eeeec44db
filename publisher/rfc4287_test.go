package publisher_test

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
)

// TestRFC4287Rules checks every Atom document the publisher serves for a
// feed of every kind of payload against the rules of RFC 4287 that its
// RELAX NG schema cannot express (schema_test.go runs the schema): dates,
// ids, the elements an entry and a feed must have once, summaries, alternate
// links, and atom:content (§4.1.3.3). With a BaseURL, every link is an
// absolute IRI, as the W3C Feed Validator wants of rel="self".
func TestRFC4287Rules(t *testing.T) {
	for _, mode := range []string{"relative", "BaseURL"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			docs := serveReaderFeed(t, dir, mode == "BaseURL")
			for _, d := range docs {
				if d.kind != "atom" && d.kind != "entry" {
					continue
				}
				b, err := os.ReadFile(filepath.Join(dir, d.name))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range checkRFC4287(b, mode == "BaseURL") {
					t.Errorf("%s: %s", d.name, p)
				}
			}
		})
	}
}

// TestRFC4287RulesCatch shows that checkRFC4287 finds what it is meant to.
func TestRFC4287RulesCatch(t *testing.T) {
	const head = `<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x:f</id><title>t</title><updated>2026-01-01T00:00:00Z</updated><author><name>a</name></author>`
	entry := func(inner string) []byte {
		return []byte(head + `<entry><id>urn:x:1</id><title>t</title><updated>2026-01-01T00:00:00Z</updated>` + inner + `</entry></feed>`)
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"valid", entry(`<content type="text">x</content>`), ""},
		{"nanoseconds", entry(`<published>2026-01-01T00:00:00.123456789Z</published><content>x</content>`), "date"},
		{"one fraction digit", entry(`<published>2026-01-01T00:00:00.5Z</published><content>x</content>`), "date"},
		{"lower-case t", entry(`<published>2026-01-01t00:00:00Z</published><content>x</content>`), "date"},
		{"relative id", []byte(head + `<entry><id>1</id><title>t</title><updated>2026-01-01T00:00:00Z</updated><content>x</content></entry></feed>`), "absolute IRI"},
		{"JSON inline", entry(`<summary>s</summary><content type="application/json">{"a":1}</content>`), "Base64"},
		{"Base64 without summary", entry(`<content type="application/json">eyJhIjoxfQ==</content>`), "summary"},
		{"two ids", entry(`<id>urn:x:2</id><content>x</content>`), "atom:id"},
		{"xhtml without div", entry(`<content type="xhtml"><p xmlns="http://www.w3.org/1999/xhtml">x</p></content>`), "xhtml:div"},
		{"markup in text", entry(`<content type="text"><b>x</b></content>`), "child element"},
		{"no content, no alternate", entry(``), "alternate"},
		{"repeated id", []byte(head + `<entry><id>urn:x:1</id><title>t</title><updated>2026-01-01T00:00:00Z</updated><content>x</content></entry><entry><id>urn:x:1</id><title>t</title><updated>2026-01-01T00:00:00Z</updated><content>x</content></entry></feed>`), "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := checkRFC4287(tc.doc, false)
			switch {
			case tc.want == "" && len(problems) > 0:
				t.Errorf("got %q, want no problem", problems)
			case tc.want != "" && !strings.Contains(strings.Join(problems, "\n"), tc.want):
				t.Errorf("got %q, want a problem naming %q", problems, tc.want)
			}
		})
	}
}

// rfc3339 is RFC 3339's date-time as RFC 4287 §3.3 narrows it (upper-case
// T and Z), with the fraction this publisher writes: three digits or none.
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:\d{2})$`)

// node is an element of a document, as checkRFC4287 reads it.
type node struct {
	name     xml.Name
	attrs    map[string]string
	children []*node
	text     string // character data directly inside
}

func (n *node) all(local string) []*node {
	var out []*node
	for _, c := range n.children {
		if c.name.Space == feed.NS && c.name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

func parseNodes(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return root, nil
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				if a.Name.Space == "" {
					n.attrs[a.Name.Local] = a.Value
				}
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
}

// checkRFC4287 returns the rules of RFC 4287 (and of the wire contract's
// dates) that doc breaks. With absolute, every link must be an absolute
// IRI.
func checkRFC4287(doc []byte, absolute bool) []string {
	root, err := parseNodes(doc)
	if err != nil {
		return []string{"not well-formed: " + err.Error()}
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	once := func(n *node, what string, locals ...string) {
		for _, l := range locals {
			if c := len(n.all(l)); c != 1 {
				fail("%s has %d atom:%s, want exactly 1", what, c, l)
			}
		}
	}
	checkIRI := func(what, s string) {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Scheme == "" {
			fail("%s %q is not an absolute IRI (RFC 4287 §4.2.6)", what, s)
		}
	}
	checkDates := func(n *node, what string) {
		for _, l := range []string{"updated", "published"} {
			for _, c := range n.all(l) {
				if !rfc3339.MatchString(c.text) {
					fail("%s: atom:%s date %q is not RFC 3339 with T, Z and three fraction digits or none", what, l, c.text)
				}
			}
		}
	}
	checkLinks := func(n *node, what string) {
		alternates := map[string]bool{}
		for _, l := range n.all("link") {
			if absolute {
				checkIRI(what+" link "+l.attrs["rel"], l.attrs["href"])
			}
			if rel := l.attrs["rel"]; rel == "" || rel == "alternate" {
				key := l.attrs["type"] + " " + l.attrs["hreflang"]
				if alternates[key] {
					fail("%s has two alternate links of type %q (RFC 4287 §4.1.1)", what, l.attrs["type"])
				}
				alternates[key] = true
			}
		}
	}
	checkText := func(n *node, what string) {
		switch n.attrs["type"] {
		case "", "text", "html":
			if len(n.children) > 0 {
				fail("%s of type %q has a child element", what, n.attrs["type"])
			}
		case "xhtml":
			if len(n.children) != 1 || n.children[0].name != (xml.Name{Space: "http://www.w3.org/1999/xhtml", Local: "div"}) || strings.TrimSpace(n.text) != "" {
				fail("%s of type xhtml is not one xhtml:div", what)
			}
		}
	}
	checkEntry := func(e *node, what string, feedAuthor bool) {
		once(e, what, "id", "title", "updated")
		for _, id := range e.all("id") {
			checkIRI(what+" atom:id", id.text)
		}
		if !feedAuthor && len(e.all("author")) == 0 {
			fail("%s has no atom:author and its feed none either", what)
		}
		checkDates(e, what)
		checkLinks(e, what)
		for _, l := range []string{"title", "summary"} {
			for _, c := range e.all(l) {
				checkText(c, what+" atom:"+l)
			}
		}
		contents := e.all("content")
		if len(contents) > 1 {
			fail("%s has %d atom:content", what, len(contents))
		}
		if len(contents) == 0 {
			alt := false
			for _, l := range e.all("link") {
				alt = alt || l.attrs["rel"] == "" || l.attrs["rel"] == "alternate"
			}
			if !alt {
				fail("%s has neither atom:content nor an alternate link (RFC 4287 §4.1.1)", what)
			}
			return
		}
		c := contents[0]
		typ, src := c.attrs["type"], c.attrs["src"]
		needSummary := src != ""
		switch {
		case typ == "" || typ == "text" || typ == "html" || typ == "xhtml":
			checkText(c, what+" atom:content")
		case base64Type(typ):
			needSummary = true
			if len(c.children) > 0 {
				fail("%s: atom:content of type %s has a child element", what, typ)
			} else if _, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.text), "")); err != nil && src == "" {
				fail("%s: atom:content of type %s is not Base64 (RFC 4287 §4.1.3.3 rule 7): %.40q", what, typ, c.text)
			}
		case strings.HasPrefix(typ, "text/"):
			if len(c.children) > 0 {
				fail("%s: atom:content of type %s has a child element", what, typ)
			}
		default: // XML media types
			if len(c.children) > 1 {
				fail("%s: atom:content of type %s has %d child elements, want one root", what, typ, len(c.children))
			}
		}
		if needSummary && len(e.all("summary")) != 1 {
			fail("%s: atom:content is out of line or Base64, and there is no atom:summary (RFC 4287 §4.1.1.1)", what)
		}
	}

	switch root.name {
	case xml.Name{Space: feed.NS, Local: "entry"}:
		checkEntry(root, "entry document", false)
	case xml.Name{Space: feed.NS, Local: "feed"}:
		once(root, "feed", "id", "title", "updated")
		for _, id := range root.all("id") {
			checkIRI("feed atom:id", id.text)
		}
		checkDates(root, "feed")
		checkLinks(root, "feed")
		seen := map[string]bool{}
		for i, e := range root.all("entry") {
			what := fmt.Sprintf("entry %d", i+1)
			checkEntry(e, what, len(root.all("author")) > 0)
			for _, id := range e.all("id") {
				if seen[id.text] {
					fail("%s: atom:id %q twice in the feed (RFC 4287 allows it; the publisher writes each event once)", what, id.text)
				}
				seen[id.text] = true
			}
		}
	default:
		fail("root element %v is not atom:feed or atom:entry", root.name)
	}
	return problems
}
