package publisher_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/atom"
)

// readerEvents are the events of the feed the foreign readers read: JSON,
// XML, text and binary data; times with and without a fraction, and below
// the millisecond (which the log drops); types and subjects that need
// escaping.
func readerEvents() []eventfeed.Event {
	t0 := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	ev := func(i int, typ, subject, ct, data string, t time.Time) eventfeed.Event {
		return eventfeed.Event{Feed: "readers", ID: fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i),
			Type: typ, Subject: subject, Time: t, ContentType: ct, Data: []byte(data)}
	}
	return []eventfeed.Event{
		ev(1, "order.placed", "order-1", "application/json", `{"note":"x < y & z","name":"Zoë ü 日本","q":"\"quoted\""}`, t0),
		ev(2, "order.paid", "order <2> & \"co\"", "application/json", `42`, t0.Add(123456789)),
		ev(3, "stock.moved", "", "application/xml", `<move xmlns="urn:example:stock" sku="A&amp;B"><qty>2</qty></move>`, t0.Add(1500*time.Millisecond)),
		ev(4, "note<&>", "s/1", "text/plain", "line 1\nline 2 <b>not bold</b> & \"quoted\"", t0.Add(2*time.Second+999999999)),
		ev(5, "image.stored", "img-5", "image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", t0.Add(3*time.Second+1)),
		ev(6, "blob.stored", "blob-6", "application/octet-stream", "\x00\x01\x02\x80\xc3\x28", t0.Add(4*time.Second+10*time.Millisecond)),
		ev(7, "cloud.event", "ce-7", "application/cloudevents+json", `{"specversion":"1.0","data":{"s":"]]>"}}`, t0.Add(5*time.Second+100*time.Millisecond)),
		ev(8, "order.shipped", "order-8", "application/json", `[1,2,{"ü":null}]`, t0.Add(6*time.Second)),
	}
}

// readerDoc is a document the publisher served, as a reader reads it.
type readerDoc struct {
	name string // file name
	kind string // "atom", "entry", "rss", "json"
	seqs []int  // the events it holds, in order
}

// serveReaderFeed serves readerEvents in pages of 3 and writes every
// document the publisher serves for them to dir: the subscription
// document, each page and entry, and the RSS form of each feed document.
func serveReaderFeed(t *testing.T, dir string, absolute bool) []readerDoc {
	t.Helper()
	e := newEnv(t, 3, publisher.Config{})
	if absolute {
		h, err := publisher.New(e.log, publisher.Config{BaseURL: e.base})
		if err != nil {
			t.Fatal(err)
		}
		e.mount(h, "/feeds")
	}
	if _, err := e.mem.Append(context.Background(), readerEvents()...); err != nil {
		t.Fatal(err)
	}
	var docs []readerDoc
	save := func(name, kind, url string, seqs []int) {
		body := e.mustGet(url).body
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, readerDoc{name, kind, seqs})
	}
	epoch := e.feed("readers").Epoch
	save("subscription.xml", "atom", e.url("readers"), []int{7, 8})
	save("subscription.rss", "rss", e.url("readers/rss"), []int{7, 8})
	save("subscription.json", "json", e.url("readers/json"), []int{7, 8})
	for k, seqs := range [][]int{{1, 2, 3}, {4, 5, 6}, {7, 8}} {
		save(fmt.Sprintf("page%d.xml", k+1), "atom", e.pageURL("readers", k+1), seqs)
		save(fmt.Sprintf("page%d.rss", k+1), "rss", e.url(fmt.Sprintf("readers/%s/rss/%d", epoch, k+1)), seqs)
		save(fmt.Sprintf("page%d.json", k+1), "json", e.url(fmt.Sprintf("readers/%s/json/%d", epoch, k+1)), seqs)
	}
	for seq := 1; seq <= len(readerEvents()); seq++ {
		save(fmt.Sprintf("entry%d.xml", seq), "entry", e.entryURL("readers", seq), []int{seq})
	}
	return docs
}

// readerEntry is what a reader reports of one entry (or RSS item).
type readerEntry struct {
	Doc      string  `json:"doc"`
	Error    string  `json:"error"`
	ID       string  `json:"id"`
	Title    string  `json:"title"`
	Category string  `json:"category"`
	Time     string  `json:"time"`
	Type     string  `json:"type"`
	Payload  *string `json:"payload"` // Base64 of the bytes the reader handed over
}

// gofeedReader reads the Atom documents with gofeed's Atom parser and the
// JSON Feed documents with its universal parser (RSS is read by the other
// readers).
func gofeedReader(t *testing.T, dir string, docs []readerDoc) []readerEntry {
	var out []readerEntry
	for _, d := range docs {
		if d.kind == "rss" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, d.name))
		if err != nil {
			t.Fatal(err)
		}
		if d.kind == "json" {
			f, err := gofeed.NewParser().Parse(bytes.NewReader(b))
			if err != nil || f.FeedType != "json" {
				out = append(out, readerEntry{Doc: d.name, Error: fmt.Sprintf("%v (a %q feed)", err, f.FeedType)})
				continue
			}
			for _, it := range f.Items {
				r := readerEntry{Doc: d.name, ID: it.GUID, Title: it.Title, Time: it.Published}
				if len(it.Categories) > 0 {
					r.Category = it.Categories[0]
				}
				p := base64.StdEncoding.EncodeToString([]byte(it.Content))
				r.Payload = &p
				out = append(out, r)
			}
			continue
		}
		if d.kind == "entry" {
			// gofeed reads feeds only: wrap the entry in one.
			b = bytes.Replace(b, []byte("<entry "), []byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry `), 1)
			b = append(bytes.TrimSpace(b), "</feed>"...)
		}
		f, err := (&atom.Parser{}).Parse(bytes.NewReader(b))
		if err != nil {
			out = append(out, readerEntry{Doc: d.name, Error: err.Error()})
			continue
		}
		for _, en := range f.Entries {
			r := readerEntry{Doc: d.name, ID: en.ID, Title: en.Title, Time: en.Updated}
			if len(en.Categories) > 0 {
				r.Category = en.Categories[0].Term
			}
			if en.Content != nil {
				r.Type = en.Content.Type
				data := []byte(en.Content.Value)
				// gofeed v1.4.2 decodes Base64 only for the media
				// types it knows to be binary, and hands over the rest
				// (JSON) as written: a consumer decodes those, as RFC
				// 4287 §4.1.3.3 rule 7 says.
				if base64Type(r.Type) && !gofeedDecodes(r.Type) {
					b, err := base64.StdEncoding.DecodeString(en.Content.Value)
					if err != nil {
						t.Errorf("gofeed: %s: entry %s: content of type %s is not Base64: %v", d.name, en.ID, r.Type, err)
					}
					data = b
				}
				p := base64.StdEncoding.EncodeToString(data)
				r.Payload = &p
			}
			out = append(out, r)
		}
	}
	return out
}

// base64Type tells whether RFC 4287 §4.1.3.3 carries content of type t in
// Base64: neither text, html, xhtml, text/* nor an XML media type.
func base64Type(t string) bool {
	switch t {
	case "", "text", "html", "xhtml":
		return false
	}
	mt, _, _ := strings.Cut(strings.ToLower(t), ";")
	mt = strings.TrimSpace(mt)
	return !strings.HasPrefix(mt, "text/") && !strings.HasSuffix(mt, "/xml") && !strings.HasSuffix(mt, "+xml")
}

// gofeedDecodes tells whether gofeed v1.4.2 decodes Base64 content of type
// t itself (its isBinaryMediaType).
func gofeedDecodes(t string) bool {
	switch t {
	case "application/octet-stream", "application/pdf", "application/zip",
		"application/gzip", "application/x-gzip", "application/ogg":
		return true
	}
	return strings.HasPrefix(t, "image/") || strings.HasPrefix(t, "audio/") || strings.HasPrefix(t, "video/")
}

// runReader runs a foreign reader over the documents and parses the JSON
// lines it prints.
func runReader(t *testing.T, dir string, docs []readerDoc, name string, args ...string) []readerEntry {
	t.Helper()
	for _, d := range docs {
		if d.kind != "json" { // JSON Feed: gofeed only
			args = append(args, filepath.Join(dir, d.name))
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.Bytes())
	}
	var out []readerEntry
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r readerEntry
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s printed %q: %v", name, sc.Bytes(), err)
		}
		r.Doc = filepath.Base(r.Doc)
		out = append(out, r)
	}
	return out
}

// TestForeignReaders serves a feed of every kind of payload and reads
// every document the publisher serves for it with readers nobody here
// wrote: Python's feedparser, Ruby's rss, Java's ROME and gofeed (JSON
// Feed: gofeed only, feedparser 6.0 reads none). Each must report every
// entry's ID, title, category and time (to the millisecond in Atom and
// JSON Feed, to the second in RSS, whose dates have no fraction) as
// appended, and from the Atom documents its payload bytes exactly (from
// JSON Feed, content_text, which carries all but binary data).
func TestForeignReaders(t *testing.T) {
	for _, mode := range []string{"relative", "BaseURL"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			if keep := os.Getenv("EVENTFEED_READERS_DIR"); keep != "" {
				dir = filepath.Join(keep, mode)
				os.MkdirAll(dir, 0o755)
			}
			docs := serveReaderFeed(t, dir, mode == "BaseURL")
			t.Run("gofeed", func(t *testing.T) {
				checkReader(t, "gofeed", docs, gofeedReader(t, dir, docs))
			})
			t.Run("feedparser", func(t *testing.T) {
				py := "/usr/bin/python3" // Debian's, where python3-feedparser is
				if _, err := os.Stat(py); err != nil {
					testenv.Missing(t, py)
				}
				if exec.Command(py, "-c", "import feedparser").Run() != nil {
					testenv.Missing(t, "Python feedparser (Debian python3-feedparser)")
				}
				checkReader(t, "feedparser", docs, runReader(t, dir, docs, "feedparser", py, "testdata/readers/read_feedparser.py"))
			})
			t.Run("ruby-rss", func(t *testing.T) {
				ruby := testenv.Command(t, "ruby")
				checkReader(t, "ruby-rss", docs, runReader(t, dir, docs, "ruby-rss", ruby, "testdata/readers/read_rss.rb"))
			})
			t.Run("rome", func(t *testing.T) {
				java := testenv.Command(t, "java")
				// The single-file source launcher needs the JDK's compiler.
				if out, _ := exec.Command(java, "--list-modules").Output(); !bytes.Contains(out, []byte("jdk.compiler")) {
					testenv.Missing(t, "a JDK for java's source launcher (Debian default-jdk-headless)")
				}
				cp := romeClasspath(t)
				checkReader(t, "rome", docs, runReader(t, dir, docs, "rome", java, "-cp", cp, "testdata/readers/Rome.java"))
			})
		})
	}
}

// romeClasspath returns the class path of Debian's librome-java and the
// JDOM it needs.
func romeClasspath(t *testing.T) string {
	var cp []string
	// librome-java depends on libjdom2-java and libslf4j-java.
	for _, jar := range []string{"rome.jar", "rome-utils.jar", "jdom2.jar", "slf4j-api.jar", "slf4j-nop.jar"} {
		p := filepath.Join("/usr/share/java", jar)
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, p+" (Debian librome-java)")
		}
		cp = append(cp, p)
	}
	return strings.Join(cp, string(os.PathListSeparator))
}

// readerLimits are what two readers do with inline XML content (an XML
// media type, RFC 4287 §4.1.3.3 rule 4): what they hand over for data.
// gofeed and ROME hand over the XML as written.
var readerLimits = map[string]func(got, want []byte) bool{
	// feedparser 6.0.10 hands over nothing for XML media types other
	// than XHTML.
	"feedparser": func(got, _ []byte) bool { return len(got) == 0 },
	// Ruby's rss re-serializes the element with the namespace
	// declarations in scope in the Atom document added to its root: the
	// same XML, not the same bytes.
	"ruby-rss": func(got, want []byte) bool {
		for _, ns := range []string{` xmlns:ef="` + feed.NSEventfeed + `"`, ` xmlns:fh="` + feed.NSHistory + `"`} {
			got = bytes.Replace(got, []byte(ns), nil, 1)
		}
		return bytes.Equal(got, want)
	},
}

// checkReader compares what a reader reported with the events appended.
func checkReader(t *testing.T, reader string, docs []readerDoc, got []readerEntry) {
	t.Helper()
	events := readerEvents()
	byDoc := map[string][]readerEntry{}
	for _, r := range got {
		if r.Error != "" {
			t.Errorf("%s: %s: %s", reader, r.Doc, r.Error)
			continue
		}
		byDoc[r.Doc] = append(byDoc[r.Doc], r)
	}
	for _, d := range docs {
		if reader == "gofeed" && d.kind == "rss" || reader != "gofeed" && d.kind == "json" {
			continue
		}
		entries := byDoc[d.name]
		if len(entries) != len(d.seqs) {
			t.Errorf("%s: %s: %d entries, want %d", reader, d.name, len(entries), len(d.seqs))
			continue
		}
		for i, r := range entries {
			ev := events[d.seqs[i]-1]
			where := fmt.Sprintf("%s: %s entry %d", reader, d.name, i+1)
			title := ev.Type
			if ev.Subject != "" {
				title += " " + ev.Subject
			}
			if r.ID != ev.ID || r.Title != title || r.Category != ev.Type {
				t.Errorf("%s: id %q, title %q, category %q; want %q, %q, %q", where, r.ID, r.Title, r.Category, ev.ID, title, ev.Type)
			}
			precision := eventfeed.TimePrecision
			if d.kind == "rss" {
				precision = time.Second
			}
			want := ev.Time.Truncate(precision)
			if tm, err := parseReaderTime(r.Time); err != nil || !tm.Equal(want) {
				t.Errorf("%s: time %q, want %s", where, r.Time, want.Format(time.RFC3339Nano))
			}
			if d.kind == "rss" {
				continue
			}
			if r.Payload == nil {
				t.Errorf("%s: no payload", where)
				continue
			}
			data, err := base64.StdEncoding.DecodeString(*r.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if d.kind == "json" {
				// content_text: the data of text, JSON and XML types;
				// binary data is replaced by the summary.
				if want := ev.Data; !gofeedDecodes(ev.ContentType) && !bytes.Equal(data, want) {
					t.Errorf("%s: content_text %q, want %q", where, data, want)
				}
				continue
			}
			if r.Type != ev.ContentType {
				t.Errorf("%s: content type %q, want %q", where, r.Type, ev.ContentType)
			}
			if lim, ok := readerLimits[reader]; ok && !base64Type(ev.ContentType) && !strings.HasPrefix(ev.ContentType, "text/") {
				// Inline XML: see readerLimits.
				if !lim(data, ev.Data) {
					t.Errorf("%s: XML payload %q, want %s's known form of %q", where, data, reader, ev.Data)
				}
				continue
			}
			if !bytes.Equal(data, ev.Data) {
				t.Errorf("%s: payload %q, want %q", where, data, ev.Data)
			}
		}
	}
}

// parseReaderTime parses a time as the readers print it: RFC 3339, or as
// feedparser hands over an RSS date, RFC 822.
func parseReaderTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC1123Z, s)
}
