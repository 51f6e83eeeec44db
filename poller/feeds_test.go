package poller_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store"
)

// This file serves feeds written by hand, the way publishers other than
// this project's write them, and injects faults between them and the
// Poller.

// xentry is one atom:entry as a foreign publisher might write it.
type xentry struct {
	id      string // "" writes no atom:id
	updated time.Time
	seq     uint64 // 0 writes no ef:seq
	typ     string // the category term; "" writes none
	ctype   string // the content's type attribute
	body    string // the content as written (escaped by the caller)
}

func (e xentry) String() string {
	var b strings.Builder
	b.WriteString("<entry>")
	if e.id != "" {
		fmt.Fprintf(&b, "<id>%s</id>", html.EscapeString(e.id))
	}
	fmt.Fprintf(&b, "<title>%s</title><updated>%s</updated>", html.EscapeString(e.typ+" "+e.id), e.updated.UTC().Format(time.RFC3339Nano))
	if e.typ != "" {
		fmt.Fprintf(&b, `<category term="%s"/>`, html.EscapeString(e.typ))
	}
	if e.seq > 0 {
		fmt.Fprintf(&b, "<ef:seq>%d</ef:seq>", e.seq)
	}
	if e.ctype != "" {
		fmt.Fprintf(&b, `<content type="%s">%s</content>`, e.ctype, e.body)
	} else {
		fmt.Fprintf(&b, `<content>%s</content>`, e.body)
	}
	b.WriteString("</entry>")
	return b.String()
}

// doc writes a feed document with links (rel, href pairs) and entries.
func doc(archive bool, links []string, entries ...xentry) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<feed xmlns="http://www.w3.org/2005/Atom" xmlns:fh="http://purl.org/syndication/history/1.0" xmlns:ef="https://github.com/eventfeed/eventfeed/ns/1">`)
	b.WriteString("<id>urn:test:feed</id><title>test</title><updated>2025-01-01T00:00:00Z</updated><author><name>t</name></author>")
	if archive {
		b.WriteString("<fh:archive/>")
	}
	for i := 0; i+1 < len(links); i += 2 {
		fmt.Fprintf(&b, `<link rel="%s" href="%s"/>`, links[i], html.EscapeString(links[i+1]))
	}
	for _, e := range entries {
		b.WriteString(e.String())
	}
	b.WriteString("</feed>\n")
	return b.String()
}

// at returns a time n minutes into 2025.
func at(n int) time.Time { return time.Date(2025, 1, 1, 0, n, 0, 0, time.UTC) }

// jsonEntry is a foreign entry with JSON content and no ef:seq.
func jsonEntry(id string, minute int) xentry {
	return xentry{id: id, updated: at(minute), typ: "thing.happened", ctype: "application/json", body: html.EscapeString(`{"id":"` + id + `"}`)}
}

// site serves fixed documents by path, with an ETag each and 304s.
type site struct {
	mu   sync.Mutex
	docs map[string]string
	ct   string // Content-Type; application/atom+xml when empty
	hits map[string]int
}

func newSite(docs map[string]string) *site {
	return &site{docs: docs, hits: make(map[string]int)}
}

func (s *site) set(path, body string) {
	s.mu.Lock()
	s.docs[path] = body
	s.mu.Unlock()
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.docs[r.URL.Path]
	s.hits[r.URL.Path]++
	ct := s.ct
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"title":"Not Found","status":404,"detail":"no document at %s"}`, r.URL.Path)
		return
	}
	if ct == "" {
		ct = "application/atom+xml"
	}
	etag := `"` + strconv.FormatUint(fnv(body), 16) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "max-age=0")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", ct)
	fmt.Fprint(w, body)
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// seqFeed serves a growing feed the way the wire contract lays it out:
// a subscription document at /feed, pages /pages/{k} of size entries,
// ef:seq, via, first, prev-archive and next-archive, ETags and long polls.
// Entries are written newest first unless oldestFirst.
type seqFeed struct {
	size        int
	oldestFirst bool
	noLongPoll  bool
	noSeq       bool // write no ef:seq

	mu      sync.Mutex
	ids     []string
	changed chan struct{}
	polls   atomic.Int64 // requests with Prefer: wait
}

func newSeqFeed(size, n int) *seqFeed {
	f := &seqFeed{size: size, changed: make(chan struct{})}
	f.append(n)
	return f
}

func (f *seqFeed) append(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.ids = append(f.ids, fmt.Sprintf("urn:test:%d", len(f.ids)+1))
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *seqFeed) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func (f *seqFeed) entry(seq int, id string) xentry {
	written := uint64(seq)
	if f.noSeq {
		written = 0
	}
	return xentry{id: id, seq: written, updated: at(0).Add(time.Duration(seq) * time.Second), typ: "n", ctype: "application/json",
		body: `{"seq":` + strconv.Itoa(seq) + `}`}
}

// render writes page k (0 for the subscription document) and its ETag.
func (f *seqFeed) render(k int) (string, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.ids)
	working := n/f.size + 1
	sub := k == 0
	if sub {
		k = working
	}
	if k < 1 || k > working {
		return "", "", false
	}
	var links []string
	if sub {
		links = append(links, "self", "/feed", "current", "/feed", "via", fmt.Sprintf("/pages/%d", k), "first", "/pages/1")
	} else {
		links = append(links, "self", fmt.Sprintf("/pages/%d", k), "current", "/feed")
	}
	if k > 1 {
		links = append(links, "prev-archive", fmt.Sprintf("/pages/%d", k-1))
	}
	if k < working {
		links = append(links, "next-archive", fmt.Sprintf("/pages/%d", k+1))
	}
	var entries []xentry
	for seq := (k-1)*f.size + 1; seq <= min(k*f.size, n); seq++ {
		entries = append(entries, f.entry(seq, f.ids[seq-1]))
	}
	if !f.oldestFirst {
		for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
			entries[i], entries[j] = entries[j], entries[i]
		}
	}
	return doc(k < working, links, entries...), fmt.Sprintf(`"%d-%d"`, k, n), true
}

func (f *seqFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := 0
	if p, ok := strings.CutPrefix(r.URL.Path, "/pages/"); ok {
		var err error
		if k, err = strconv.Atoi(p); err != nil || k < 1 {
			http.NotFound(w, r)
			return
		}
	} else if r.URL.Path != "/feed" {
		http.NotFound(w, r)
		return
	}
	body, etag, ok := f.render(k)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm == etag {
		wait, _ := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Prefer"), "wait="))
		if wait > 0 && !f.noLongPoll {
			f.polls.Add(1)
			f.mu.Lock()
			ch := f.changed
			f.mu.Unlock()
			w.Header().Set("Preference-Applied", fmt.Sprintf("wait=%d", wait))
			t := time.NewTimer(time.Duration(wait) * time.Second)
			defer t.Stop()
			select {
			case <-ch:
				body, etag, _ = f.render(k)
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		if inm == etag {
			w.Header().Set("ETag", etag)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/atom+xml")
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "max-age=0")
	fmt.Fprint(w, body)
}

// fault is one way a request can go wrong.
type fault int

const (
	fault500       fault = iota // 500 with a problem body
	faultReset                  // the connection closed before any answer
	faultShortBody              // Content-Length says more than is sent
	faultCutXML                 // a well-framed body holding half a document
	faultSlow                   // the body in small pieces, slowly
	fault429                    // 429 with Retry-After: 1
	nFaults
)

// faulty wraps a handler and makes a share of its answers fail.
type faulty struct {
	h    http.Handler
	rate float64 // share of requests that fail
	down atomic.Bool

	mu     sync.Mutex
	rnd    *rand.Rand
	kinds  []fault
	counts [nFaults]int
}

func newFaulty(h http.Handler, rate float64, seed uint64, kinds ...fault) *faulty {
	if len(kinds) == 0 {
		kinds = []fault{fault500, faultReset, faultShortBody, faultCutXML, faultSlow}
	}
	return &faulty{h: h, rate: rate, rnd: rand.New(rand.NewPCG(seed, seed)), kinds: kinds}
}

// injected returns how many faults of each kind were injected so far. The
// server may still be answering requests while a test reads it.
func (f *faulty) injected() [nFaults]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

func (f *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		hijackClose(w, "")
		return
	}
	f.mu.Lock()
	fail := f.rnd.Float64() < f.rate
	kind := f.kinds[f.rnd.IntN(len(f.kinds))]
	if fail {
		f.counts[kind]++
	}
	f.mu.Unlock()
	if !fail {
		f.h.ServeHTTP(w, r)
		return
	}
	switch kind {
	case fault500:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"title":"Internal Server Error","status":500}`)
	case fault429:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case faultReset:
		hijackClose(w, "")
	case faultShortBody, faultCutXML, faultSlow:
		rec := httptest.NewRecorder()
		r.Header.Del("Accept-Encoding") // cut the identity body
		f.h.ServeHTTP(rec, r)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		switch kind {
		case faultShortBody:
			hijackClose(w, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:len(body)/2]))
		case faultCutXML:
			w.Header().Set("Content-Type", "application/atom+xml")
			fmt.Fprint(w, body[:len(body)/2])
		case faultSlow:
			w.Header().Set("Content-Type", "application/atom+xml")
			for i := 0; i < len(body); i += len(body)/4 + 1 {
				fmt.Fprint(w, body[i:min(len(body), i+len(body)/4+1)])
				w.(http.Flusher).Flush()
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
}

// hijackClose writes raw (possibly nothing) on the connection and closes
// it: a reset, or a response cut short.
func hijackClose(w http.ResponseWriter, raw string) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if raw != "" {
		buf.WriteString(raw)
		buf.Flush()
	}
	if tc, ok := conn.(*net.TCPConn); ok && raw == "" {
		tc.SetLinger(0) // RST rather than FIN
	}
	conn.Close()
}

// fastRetry is a Config that retries quickly, for tests.
func fastRetry() poller.Config {
	return poller.Config{
		Backoff:     poller.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond},
		MinInterval: 20 * time.Millisecond,
	}
}

// ids returns the IDs of events.
func ids(events []eventfeed.Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.ID
	}
	return out
}

// sameIDs reports the first difference between got and want.
func sameIDs(t *testing.T, got, want []string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("applied[%d] = %s, want %s (got %d events, want %d)\ngot  %v\nwant %v", i, got[i], want[i], len(got), len(want), head(got), head(want))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("applied %d events, want %d\ngot  %v\nwant %v", len(got), len(want), head(got), head(want))
	}
}

func head(s []string) []string {
	if len(s) > 12 {
		return append(s[:12:12], "…")
	}
	return s
}

// newPoller returns a Poller of url into replica, failing t on error.
func newPoller(t testing.TB, url string, replica store.Replica, cfg poller.Config) *poller.Poller {
	t.Helper()
	p, err := poller.New(url, replica, cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", url, err)
	}
	return p
}

// syncCtx runs p.Sync with a generous deadline.
func syncCtx(t testing.TB, p *poller.Poller) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Sync(ctx)
}

// checkpointOf returns replica's checkpoint of source.
func checkpointOf(t testing.TB, r store.Replica, source string) store.Checkpoint {
	t.Helper()
	cp, err := r.Checkpoint(context.Background(), source)
	if err != nil {
		t.Fatalf("Checkpoint: %v", err)
	}
	return cp
}

type feedSyntaxError = feed.SyntaxError

var feedErrTooLarge = feed.ErrTooLarge

// gzipBomb serves a gzip-compressed feed whose decompressed size is n bytes
// of white space: small on the wire, large once inflated.
func gzipBomb(t testing.TB, n int) http.Handler {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write([]byte(`<feed xmlns="http://www.w3.org/2005/Atom">`))
	spaces := bytes.Repeat([]byte(" "), 1<<20)
	for range n >> 20 {
		zw.Write(spaces)
	}
	zw.Write([]byte(`</feed>`))
	zw.Close()
	body := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/atom+xml")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(body)
	})
}

// withContentType serves h's answers with another Content-Type.
func withContentType(h http.Handler, ct string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// problemHandler answers every request with status and an RFC 9457
// problem whose detail is detail.
func problemHandler(status int, detail string) http.Handler {
	return typedProblemHandler(status, "", detail)
}

// typedProblemHandler answers every request with a problem document of
// type typ ("" for none).
func typedProblemHandler(status int, typ, detail string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"type": typ, "title": http.StatusText(status), "status": status, "detail": detail})
	})
}

// atomicCounter counts the requests of the handlers it wraps.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		h.ServeHTTP(w, r)
	})
}
