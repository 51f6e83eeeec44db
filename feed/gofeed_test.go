package feed_test

import (
	"encoding/base64"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
	"github.com/mmcdole/gofeed/atom"
)

// These tests read what Encode writes with gofeed's Atom parser, an
// independent reader, as a foreign consumer of a feed would.

func parseGofeed(t *testing.T, name string) *atom.Feed {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p atom.Parser
	af, err := p.Parse(f)
	if err != nil {
		t.Fatalf("gofeed atom.Parser: %s: %v", name, err)
	}
	return af
}

func gofeedLinks(links []*atom.Link) map[string]string {
	m := map[string]string{}
	for _, l := range links {
		m[l.Rel] = l.Href
	}
	return m
}

func TestGofeedReadsPages(t *testing.T) {
	for _, tc := range []struct {
		file  string
		model *feed.Feed
	}{
		{"archive.xml", testPage(2, 3, true)},
		{"working.xml", testPage(3, 4, false)},
	} {
		t.Run(tc.file, func(t *testing.T) {
			af := parseGofeed(t, tc.file)
			want := tc.model
			if af.ID != want.ID || af.Title != want.Title {
				t.Errorf("id, title: got %q, %q, want %q, %q", af.ID, af.Title, want.ID, want.Title)
			}
			links := gofeedLinks(af.Links)
			for _, rel := range []string{feed.RelSelf, feed.RelCurrent, feed.RelPrevArchive, feed.RelNextArchive} {
				if got, want := links[rel], want.Link(rel); got != want {
					t.Errorf("link %s: got %q, want %q", rel, got, want)
				}
			}
			_, archive := af.Extensions["fh"]["archive"]
			if archive != want.Archive {
				t.Errorf("fh:archive present: got %v, want %v", archive, want.Archive)
			}
			if len(af.Entries) != len(want.Entries) {
				t.Fatalf("got %d entries, want %d", len(af.Entries), len(want.Entries))
			}
			for i, ae := range af.Entries {
				we := want.Entries[i]
				if ae.ID != we.ID || ae.Title != we.Title {
					t.Errorf("entry %d: id, title: got %q, %q, want %q, %q", i, ae.ID, ae.Title, we.ID, we.Title)
				}
				if ae.UpdatedParsed == nil || !ae.UpdatedParsed.Equal(we.Updated) {
					t.Errorf("entry %d: updated: got %v, want %v", i, ae.UpdatedParsed, we.Updated)
				}
				if len(ae.Categories) != 1 || ae.Categories[0].Term != we.Categories[0].Term || ae.Categories[0].Scheme != we.Categories[0].Scheme {
					t.Errorf("entry %d: categories: got %+v, want %+v", i, ae.Categories, we.Categories)
				}
				if got := gofeedLinks(ae.Links)[feed.RelSelf]; got != we.Link(feed.RelSelf) {
					t.Errorf("entry %d: self link: got %q, want %q", i, got, we.Link(feed.RelSelf))
				}
				ev := testEvent(we.Seq)
				// gofeed hands over the Base64 of a JSON type as written.
				if ae.Content == nil || ae.Content.Type != "application/json" || ae.Content.Value != base64.StdEncoding.EncodeToString(ev.Data) {
					t.Errorf("entry %d: content: got %+v, want application/json %s", i, ae.Content, ev.Data)
				}
				seq := ae.Extensions["ef"]["seq"]
				subject := ae.Extensions["ef"]["subject"]
				if len(seq) != 1 || seq[0].Value != strconv.FormatUint(we.Seq, 10) {
					t.Errorf("entry %d: ef:seq: got %+v, want %d", i, seq, we.Seq)
				}
				if len(subject) != 1 || subject[0].Value != we.Subject {
					t.Errorf("entry %d: ef:subject: got %+v, want %q", i, subject, we.Subject)
				}
			}
		})
	}
}

func TestGofeedReadsContent(t *testing.T) {
	af := parseGofeed(t, "content.xml")
	want := map[string]atom.Content{}
	for _, ev := range contentEvents() {
		value := string(ev.Data)
		if strings.HasPrefix(ev.Type, "json") {
			// Carried in Base64, which gofeed decodes only for the
			// media types it knows to be binary.
			value = base64.StdEncoding.EncodeToString(ev.Data)
		}
		want[ev.ID] = atom.Content{Type: ev.ContentType, Value: value}
	}
	want["urn:uuid:00000000-0000-4000-8000-100000000010"] = atom.Content{Type: "application/json", Value: base64.StdEncoding.EncodeToString(contentEvents()[0].Data)}
	want["urn:example:atom-text-text"] = atom.Content{Type: "text", Value: "plain <text>"}
	want["urn:example:atom-text-html"] = atom.Content{Type: "html", Value: "<p>Some <em>HTML</em> &amp; more</p>"}
	want["urn:example:atom-text-xhtml"] = atom.Content{Type: "xhtml", Value: "<p>Some <em>XHTML</em></p>"}
	want["urn:example:atom-text-application/pdf"] = atom.Content{Type: "application/pdf", Src: "https://example.com/doc.pdf"}
	if len(af.Entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(af.Entries), len(want))
	}
	for _, ae := range af.Entries {
		w, ok := want[ae.ID]
		if !ok {
			t.Errorf("unexpected entry %q", ae.ID)
			continue
		}
		if ae.Content == nil {
			t.Errorf("entry %s: no content", ae.ID)
			continue
		}
		// gofeed trims values (before decoding references, so a trailing
		// &#xD; survives): compare them trimmed.
		got := *ae.Content
		got.Value = strings.TrimSpace(got.Value)
		w.Value = strings.TrimSpace(w.Value)
		if got != w {
			t.Errorf("entry %s: content: got %+v, want %+v", ae.ID, ae.Content, w)
		}
	}
}
