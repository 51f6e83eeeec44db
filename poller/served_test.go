package poller_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store/memory"
)

// TestServedAs follows feeds served the ways raw file hosts and object
// stores serve them, and in the single-byte encodings some feeds still
// declare; HTML stays refused whatever its label.
func TestServedAs(t *testing.T) {
	atom := doc(false, nil, jsonEntry("b", 2), jsonEntry("a", 1))
	// "café €" in ISO-8859-1 (no €: it has none) and in windows-1252.
	latin1 := strings.Replace(doc(false, nil, xentry{id: "l", updated: at(1), typ: "t", ctype: "text/plain", body: "caf\xe9"}),
		`encoding="utf-8"`, `encoding="ISO-8859-1"`, 1)
	cp1252 := strings.Replace(doc(false, nil, xentry{id: "w", updated: at(1), typ: "t", ctype: "text/plain", body: "caf\xe9 \x80"}),
		`<?xml version="1.0" encoding="utf-8"?>`, ``, 1)
	html := "<!DOCTYPE html>\n<html><head><title>feed</title></head><body><feed></feed></body></html>"
	for _, tt := range []struct {
		name, ct, body string
		want           []string // the entries' data, or nil for ErrNotAFeed
	}{
		{"text/plain", "text/plain; charset=utf-8", atom, []string{`{"id":"a"}`, `{"id":"b"}`}},
		{"octet-stream", "application/octet-stream", "\xef\xbb\xbf" + strings.Replace(atom, "?>", "?>\n<!-- mirrored -->", 1), []string{`{"id":"a"}`, `{"id":"b"}`}},
		{"ISO-8859-1 declared", "application/atom+xml", latin1, []string{"café"}},
		{"windows-1252 by charset", "application/atom+xml; charset=windows-1252", cp1252, []string{"café €"}},
		{"HTML as text/plain", "text/plain", html, nil},
		{"Atom as text/html", "text/html", atom, nil},
		{"Shift_JIS", "application/atom+xml; charset=Shift_JIS", atom, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ct)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			r := memory.NewReplica(nil)
			err := syncCtx(t, newPoller(t, srv.URL+"/f", r, fastRetry()))
			if tt.want == nil {
				if !errors.Is(err, poller.ErrNotAFeed) {
					t.Fatalf("Sync = %v, want poller.ErrNotAFeed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			var got []string
			for _, ev := range r.Applied() {
				got = append(got, string(ev.Data))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("data = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestXMLBaseLinks follows an archive chain whose links are relative to
// the feed's xml:base, not to the document's URL: the URL they would name
// without it serves another document, which must not be read.
func TestXMLBaseLinks(t *testing.T) {
	withBase := func(d string) string {
		return strings.Replace(d, "<feed ", `<feed xml:base="archive/" `, 1)
	}
	s := newSite(map[string]string{
		"/feeds/f":             withBase(doc(false, []string{"prev-archive", "2.xml"}, jsonEntry("c", 3))),
		"/feeds/archive/2.xml": doc(true, []string{"prev-archive", "1.xml", "next-archive", "../f"}, jsonEntry("b", 2)),
		"/feeds/archive/1.xml": doc(true, []string{"next-archive", "2.xml"}, jsonEntry("a", 1)),
		// What the links name when xml:base is ignored.
		"/feeds/2.xml": doc(true, []string{"next-archive", "/feeds/f"}, jsonEntry("wrong", 1)),
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	r := memory.NewReplica(nil)
	if err := syncCtx(t, newPoller(t, srv.URL+"/feeds/f", r, fastRetry())); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	sameIDs(t, ids(r.Applied()), []string{"a", "b", "c"})
}

// TestOutOfLineContent follows entries whose content is out of line
// (atom:content src): fetched under the pages' rules; one that cannot be
// had stops the feed after the entries before it, or is parked.
func TestOutOfLineContent(t *testing.T) {
	page := strings.Replace(doc(false, nil,
		jsonEntry("c", 3),
		xentry{id: "b", updated: at(2), typ: "t", ctype: `application/json" src="c/b.json`},
		jsonEntry("a", 1)), "<feed ", `<feed xml:base="/content/" `, 1)
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	for _, tt := range []struct {
		name       string
		content    string // served at /content/c/b.json, "" for a 404
		page       string
		deadLetter bool
		applied    []string
		parked     []string
	}{
		{"fetched", `{"id":"b"}`, page, false, []string{"a", "b", "c"}, nil},
		{"gone", "", page, false, []string{"a"}, nil},
		{"gone, parked", "", page, true, []string{"a", "c"}, []string{"b"}},
		{"relative to the page", `{"id":"b"}`, strings.Replace(page, `xml:base="/content/" `, "", 1), false, nil, nil},
		{"another origin", `{"id":"b"}`, strings.Replace(page, `xml:base="/content/"`, `xml:base="`+other.URL+`/content/"`, 1), true, []string{"a", "c"}, []string{"b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			docs := map[string]string{"/f": tt.page}
			if tt.content != "" {
				docs["/content/c/b.json"] = tt.content
				docs["/c/b.json"] = tt.content
			}
			if tt.applied == nil {
				tt.applied = []string{"a", "b", "c"}
			}
			srv := httptest.NewServer(newSite(docs))
			defer srv.Close()
			r := memory.NewReplica(nil)
			cfg := fastRetry()
			cfg.DeadLetter = tt.deadLetter
			err := syncCtx(t, newPoller(t, srv.URL+"/f", r, cfg))
			switch {
			case len(tt.applied) == 3 || tt.deadLetter:
				if err != nil {
					t.Fatalf("Sync: %v", err)
				}
			case !errors.Is(err, poller.ErrInvalidEntry):
				t.Fatalf("Sync = %v, want poller.ErrInvalidEntry", err)
			}
			sameIDs(t, ids(r.Applied()), tt.applied)
			var parked []string
			for _, d := range r.DeadLetters() {
				parked = append(parked, d.Event.ID)
			}
			if strings.Join(parked, ",") != strings.Join(tt.parked, ",") {
				t.Errorf("parked %q, want %q", parked, tt.parked)
			}
			if len(tt.applied) == 3 {
				if got := string(r.Applied()[1].Data); got != tt.content {
					t.Errorf("b's data = %q, want %q", got, tt.content)
				}
			}
		})
	}
}
