package poller_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// TestForeignFeeds follows feeds written in ways this project's publisher
// does not write them, and checks that every entry is applied once, oldest
// first.
func TestForeignFeeds(t *testing.T) {
	tests := []struct {
		name   string
		source string // path of the subscription document
		docs   map[string]string
		want   []string
	}{
		{
			// No first link: the Poller walks prev-archive back. Pages
			// newest first, relative links, no ef:seq; the newest
			// archive has no next-archive, only current. e4 and e5 have
			// the same time: the page's direction orders them.
			name:   "newest first, relative links, no first",
			source: "/blog/feed",
			docs: map[string]string{
				"/blog/feed": doc(false, []string{"self", "feed", "prev-archive", "archive/2"},
					jsonEntry("e9", 9), jsonEntry("e8", 8), jsonEntry("e7", 7)),
				"/blog/archive/2": doc(true, []string{"prev-archive", "1", "current", "../feed"},
					jsonEntry("e6", 6), jsonEntry("e5", 5), jsonEntry("e4", 5)),
				"/blog/archive/1": doc(true, []string{"next-archive", "2", "current", "/blog/feed"},
					jsonEntry("e3", 3), jsonEntry("e2", 2), jsonEntry("e1", 1)),
			},
			want: []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"},
		},
		{
			// Oldest first with a first link and next-archive links; ties
			// (e2, e3) keep the document's order.
			name:   "oldest first, first link",
			source: "/f",
			docs: map[string]string{
				"/f": doc(false, []string{"first", "/p/1", "prev-archive", "/p/1"},
					jsonEntry("e4", 4), jsonEntry("e5", 5)),
				"/p/1": doc(true, []string{"next-archive", "/f"},
					jsonEntry("e1", 1), jsonEntry("e2", 2), jsonEntry("e3", 2)),
			},
			want: []string{"e1", "e2", "e3", "e4", "e5"},
		},
		{
			// All times equal: the direction cannot be told, and
			// newest-first, the common convention, is assumed.
			name:   "equal times",
			source: "/f",
			docs: map[string]string{
				"/f": doc(false, nil, jsonEntry("c", 1), jsonEntry("b", 1), jsonEntry("a", 1)),
			},
			want: []string{"a", "b", "c"},
		},
		{
			// ef:seq wins over times and document order.
			name:   "seq orders",
			source: "/f",
			docs: map[string]string{
				"/f": doc(false, nil,
					xentry{id: "s2", seq: 2, updated: at(1), typ: "t", body: "x"},
					xentry{id: "s3", seq: 3, updated: at(0), typ: "t", body: "x"},
					xentry{id: "s1", seq: 1, updated: at(5), typ: "t", body: "x"}),
			},
			want: []string{"s1", "s2", "s3"},
		},
		{
			name:   "a single page, oldest first",
			source: "/f",
			docs: map[string]string{
				"/f": doc(false, []string{"self", "/f"}, jsonEntry("a", 1), jsonEntry("b", 2), jsonEntry("c", 3)),
			},
			want: []string{"a", "b", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSite(tt.docs)
			srv := httptest.NewServer(s)
			defer srv.Close()
			r := memory.NewReplica(nil)
			p := newPoller(t, srv.URL+tt.source, r, fastRetry())
			if err := syncCtx(t, p); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			sameIDs(t, ids(r.Applied()), tt.want)
			// Archives walked back over come from the page cache on
			// the way forward: each is fetched once.
			for path, n := range s.hits {
				if path != tt.source && n != 1 {
					t.Errorf("%s fetched %d times, want once", path, n)
				}
			}
			// A second Sync finds nothing new.
			if err := syncCtx(t, p); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			sameIDs(t, ids(r.Applied()), tt.want)
		})
	}
}

// TestContent checks the events made of entries with each kind of content.
func TestContent(t *testing.T) {
	entries := []xentry{
		{id: "json", updated: at(1), typ: "a.json", ctype: "application/json", body: html.EscapeString(`{"n":1,"s":"<x>"}`)},
		{id: "text", updated: at(2), typ: "a.text", ctype: "text", body: "hello &amp; bye"},
		{id: "plain", updated: at(3), typ: "a.plain", ctype: "text/plain", body: "plain &lt;text&gt;"},
		{id: "xml", updated: at(4), typ: "a.xml", ctype: "application/xml", body: `<order xmlns="urn:o"><n>1</n></order>`},
		{id: "bin", updated: at(5), typ: "a.bin", ctype: "application/octet-stream", body: "AAEC/w=="},
		{id: "none", updated: at(6), body: "no category"},
	}
	srv := httptest.NewServer(newSite(map[string]string{"/orders": doc(false, nil, entries...)}))
	defer srv.Close()
	r := memory.NewReplica(nil)
	p := newPoller(t, srv.URL+"/orders", r, fastRetry())
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	want := []struct {
		id, typ, ctype string
		data           string
	}{
		{"json", "a.json", "application/json", `{"n":1,"s":"<x>"}`},
		{"text", "a.text", "text/plain", "hello & bye"},
		{"plain", "a.plain", "text/plain", "plain <text>"},
		{"xml", "a.xml", "application/xml", ""},
		{"bin", "a.bin", "application/octet-stream", "\x00\x01\x02\xff"},
		{"none", "none", "text/plain", "no category"}, // the title, trimmed
	}
	got := r.Applied()
	if len(got) != len(want) {
		t.Fatalf("applied %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		ev := got[i]
		if ev.ID != w.id || ev.Type != w.typ || ev.ContentType != w.ctype || ev.Feed != "orders" {
			t.Errorf("event %d = {ID %q Type %q ContentType %q Feed %q}, want {%q %q %q %q}", i, ev.ID, ev.Type, ev.ContentType, ev.Feed, w.id, w.typ, w.ctype, "orders")
		}
		if w.id == "xml" {
			if !strings.Contains(string(ev.Data), "<n>1</n>") {
				t.Errorf("xml data = %q, want the inline order", ev.Data)
			}
			continue
		}
		if string(ev.Data) != w.data {
			t.Errorf("%s data = %q, want %q", w.id, ev.Data, w.data)
		}
		if !ev.Time.Equal(at(i + 1)) {
			t.Errorf("%s time = %v, want %v", w.id, ev.Time, at(i+1))
		}
	}
}

// TestDuplicates applies an ID that appears twice on a page and again on
// the next page once.
func TestDuplicates(t *testing.T) {
	docs := map[string]string{
		"/f": doc(false, []string{"prev-archive", "/a"},
			jsonEntry("c", 5), jsonEntry("b", 4), jsonEntry("d", 6)),
		"/a": doc(true, []string{"next-archive", "/f"},
			jsonEntry("a", 1), jsonEntry("b", 2), jsonEntry("b", 3)),
	}
	srv := httptest.NewServer(newSite(docs))
	defer srv.Close()
	r := memory.NewReplica(nil)
	p := newPoller(t, srv.URL+"/f", r, fastRetry())
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	sameIDs(t, ids(r.Applied()), []string{"a", "b", "c", "d"})
	if got := p.Stats().Duplicates; got != 2 {
		t.Errorf("Stats().Duplicates = %d, want 2", got)
	}
}

// TestResume stops and starts Pollers (as a process would) on one replica
// while the feed grows across pages, in both entry orders.
func TestResume(t *testing.T) {
	for _, oldestFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("oldestFirst=%v", oldestFirst), func(t *testing.T) {
			f := newSeqFeed(10, 25)
			f.oldestFirst = oldestFirst
			srv := httptest.NewServer(f)
			defer srv.Close()
			r := memory.NewReplica(nil)
			for _, grow := range []int{0, 3, 2, 10, 0, 37, 1} {
				f.append(grow)
				p := newPoller(t, srv.URL+"/feed", r, fastRetry())
				if err := syncCtx(t, p); err != nil {
					t.Fatalf("Sync after %d more: %v", grow, err)
				}
				sameIDs(t, ids(r.Applied()), f.all())
			}
			cp := checkpointOf(t, r, srv.URL+"/feed")
			if want := srv.URL + "/pages/8"; cp.Page != want || cp.Seq != 78 || cp.LastID != "urn:test:78" {
				t.Errorf("checkpoint = {Page %s LastID %s Seq %d}, want {%s urn:test:78 78}", cp.Page, cp.LastID, cp.Seq, want)
			}
		})
	}
}

// TestResumeMovedOn resumes a feed without ef:seq and without via, whose
// subscription document slid past the checkpoint's entry into archives:
// the Poller walks back to find it.
func TestResumeMovedOn(t *testing.T) {
	s := newSite(map[string]string{
		"/f": doc(false, nil, jsonEntry("e2", 2), jsonEntry("e1", 1)),
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	r := memory.NewReplica(nil)
	if err := syncCtx(t, newPoller(t, srv.URL+"/f", r, fastRetry())); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// e1..e2 moved into archive a1 with e3; a2 holds e4..e6; /f holds e7.
	s.set("/a1", doc(true, []string{"next-archive", "/a2"}, jsonEntry("e3", 3), jsonEntry("e2", 2), jsonEntry("e1", 1)))
	s.set("/a2", doc(true, []string{"prev-archive", "/a1", "next-archive", "/f"}, jsonEntry("e6", 6), jsonEntry("e5", 5), jsonEntry("e4", 4)))
	s.set("/f", doc(false, []string{"prev-archive", "/a2"}, jsonEntry("e7", 7)))
	p := newPoller(t, srv.URL+"/f", r, fastRetry())
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync after the feed moved on: %v", err)
	}
	sameIDs(t, ids(r.Applied()), []string{"e1", "e2", "e3", "e4", "e5", "e6", "e7"})
}

// TestFaults follows a feed through injected faults of every kind while
// it grows, and checks that the replica ends up with every event once, in
// order.
func TestFaults(t *testing.T) {
	f := newSeqFeed(20, 300)
	fy := newFaulty(f, 0.3, 1)
	srv := httptest.NewServer(fy)
	defer srv.Close()
	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.Wait = time.Second
	cfg.RequestTimeout = 2 * time.Second
	p := newPoller(t, srv.URL+"/feed", r, cfg)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for i := range 10 {
		time.Sleep(20 * time.Millisecond)
		f.append(7 * i)
		if i == 5 {
			fy.down.Store(true) // down for a while, then up again
			time.Sleep(100 * time.Millisecond)
			fy.down.Store(false)
		}
	}
	waitFor(t, 20*time.Second, func() bool { return len(r.Applied()) >= len(f.all()) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	sameIDs(t, ids(r.Applied()), f.all())
	st := p.Stats()
	if st.Errors == 0 || st.Retries == 0 {
		t.Errorf("Stats() = %+v, want errors and retries counted", st)
	}
	t.Logf("faults injected: %v; stats: %d pages, %d errors, %d retries", fy.injected(), st.Pages, st.Errors, st.Retries)
}

// TestRetryAfter checks that a 429's Retry-After is honoured.
func TestRetryAfter(t *testing.T) {
	f := newSeqFeed(10, 5)
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	r := memory.NewReplica(nil)
	p := newPoller(t, srv.URL+"/feed", r, fastRetry())
	start := time.Now()
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("Sync took %v after a 429 with Retry-After: 1, want at least 1s", d)
	}
	sameIDs(t, ids(r.Applied()), f.all())
}

// TestBadInput checks that each kind of bad feed gives its typed error and
// leaves the replica as it was.
func TestBadInput(t *testing.T) {
	other := httptest.NewServer(newSite(map[string]string{"/x": doc(true, nil, jsonEntry("x", 1))}))
	defer other.Close()
	good := jsonEntry("g", 1)
	bomb := gzipBomb(t, 17<<20)
	tests := []struct {
		name    string
		handler http.Handler
		cfg     func(*poller.Config)
		cp      store.Checkpoint // the replica's checkpoint before, if any
		is      error            // errors.Is target
		as      func(error) bool // or errors.As check
	}{
		{
			name:    "malformed XML",
			handler: newSite(map[string]string{"/f": `<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>a</id></feed>`}),
			as:      func(err error) bool { var se *feedSyntaxError; return errors.As(err, &se) },
		},
		{
			name:    "HTML",
			handler: withContentType(newSite(map[string]string{"/f": "<html><body>hi</body></html>"}), "text/html; charset=utf-8"),
			is:      poller.ErrNotAFeed,
		},
		{
			name:    "RSS",
			handler: withContentType(newSite(map[string]string{"/f": `<rss version="2.0"><channel/></rss>`}), "application/xml"),
			is:      poller.ErrNotAFeed,
		},
		{
			name:    "oversize body",
			handler: newSite(map[string]string{"/f": doc(false, nil, good, xentry{id: "big", updated: at(2), body: strings.Repeat("x", 8<<10)})}),
			cfg:     func(c *poller.Config) { c.MaxBodyBytes = 4 << 10 },
			is:      feedErrTooLarge,
		},
		{
			name:    "gzip bomb",
			handler: bomb,
			is:      feedErrTooLarge,
		},
		{
			name: "prev-archive loop",
			handler: newSite(map[string]string{
				"/f": doc(false, []string{"prev-archive", "/a"}, good),
				"/a": doc(true, []string{"prev-archive", "/b"}, jsonEntry("a", 0)),
				"/b": doc(true, []string{"prev-archive", "/a"}, jsonEntry("b", 0)),
			}),
			is: poller.ErrLinkLoop,
		},
		{
			name: "next-archive loop",
			handler: newSite(map[string]string{
				"/f": doc(false, []string{"first", "/a"}),
				"/a": doc(true, []string{"next-archive", "/b"}),
				"/b": doc(true, []string{"next-archive", "/a"}),
			}),
			is: poller.ErrLinkLoop,
		},
		{
			name:    "cross-origin link",
			handler: newSite(map[string]string{"/f": doc(false, []string{"prev-archive", other.URL + "/x"}, good)}),
			is:      poller.ErrCrossOrigin,
		},
		{
			name:    "cross-origin redirect",
			handler: http.RedirectHandler(other.URL+"/x", http.StatusFound),
			is:      poller.ErrCrossOrigin,
		},
		{
			name:    "redirect loop",
			handler: http.RedirectHandler("/f", http.StatusFound),
			is:      poller.ErrTooManyRedirects,
		},
		{
			name: "too many pages",
			handler: newSite(map[string]string{
				"/f": doc(false, []string{"prev-archive", "/3"}, good),
				"/3": doc(true, []string{"prev-archive", "/2"}),
				"/2": doc(true, []string{"prev-archive", "/1"}),
				"/1": doc(true, nil),
			}),
			cfg: func(c *poller.Config) { c.MaxPagesPerSync = 3 },
			is:  poller.ErrTooManyPages,
		},
		{
			name:    "entry without id",
			handler: newSite(map[string]string{"/f": doc(false, nil, good, xentry{updated: at(2), body: "x"})}),
			is:      poller.ErrInvalidEntry,
		},
		{
			name:    "forbidden",
			handler: problemHandler(http.StatusForbidden, "no access for you"),
			as: func(err error) bool {
				var he *poller.HTTPError
				return errors.As(err, &he) && he.Status == 403 && he.Problem.Detail == "no access for you"
			},
		},
		{
			name:    "checkpoint page gone",
			handler: newSite(map[string]string{"/f": doc(false, nil, good)}),
			cp:      store.Checkpoint{Page: "/pages/7", LastID: "urn:test:70", Seq: 70},
			is:      eventfeed.ErrCheckpointLost,
		},
		{
			name:    "feed reset",
			handler: typedProblemHandler(http.StatusNotFound, eventfeed.ProblemFeedReset, `feed "f" was reset: epoch "x" is gone`),
			cp:      store.Checkpoint{Page: "/f/x/pages/1", LastID: "urn:test:3", Seq: 3},
			as: func(err error) bool {
				return errors.Is(err, eventfeed.ErrCheckpointLost) && errors.Is(err, eventfeed.ErrFeedReset)
			},
		},
		{
			name:    "page gone, no reset said",
			handler: problemHandler(http.StatusNotFound, `nothing was reset here`),
			cp:      store.Checkpoint{Page: "/f/x/pages/1", LastID: "urn:test:3", Seq: 3},
			as: func(err error) bool {
				return errors.Is(err, eventfeed.ErrCheckpointLost) && !errors.Is(err, eventfeed.ErrFeedReset)
			},
		},
		{
			name: "checkpoint entry gone",
			handler: newSite(map[string]string{
				"/f": doc(false, []string{"prev-archive", "/a"}, jsonEntry("y", 9)),
				"/a": doc(true, []string{"next-archive", "/f"}, jsonEntry("x", 8)),
			}),
			cp: store.Checkpoint{Page: "/f", LastID: "vanished"},
			is: eventfeed.ErrCheckpointLost,
		},
		{
			name:    "checkpoint seq taken by another entry",
			handler: newSeqFeed(10, 15),
			cp:      store.Checkpoint{Page: "/pages/1", LastID: "urn:other:3", Seq: 3},
			is:      eventfeed.ErrCheckpointLost,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			r := memory.NewReplica(nil)
			source := srv.URL + "/f"
			if _, ok := tt.handler.(*seqFeed); ok {
				source = srv.URL + "/feed"
			}
			if tt.cp.LastID != "" {
				cp := tt.cp
				cp.Source = source
				cp.Page = srv.URL + cp.Page
				if err := r.Apply(context.Background(), cp, nil); err != nil {
					t.Fatal(err)
				}
			}
			before := checkpointOf(t, r, source)
			cfg := fastRetry()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			p := newPoller(t, source, r, cfg)
			err := syncCtx(t, p)
			switch {
			case err == nil:
				t.Fatalf("Sync succeeded, want an error")
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Fatalf("Sync: %v, want an error that is %v", err, tt.is)
			case tt.as != nil && !tt.as(err):
				t.Fatalf("Sync: %v (%T), want another error", err, err)
			}
			t.Logf("error: %v", err)
			if n := len(r.Applied()); n != 0 {
				t.Errorf("replica applied %d events, want none", n)
			}
			if after := checkpointOf(t, r, source); !after.Equal(before) {
				t.Errorf("checkpoint = %+v, want it unchanged: %+v", after, before)
			}
			if st := p.Stats(); st.LastError == nil || st.Errors == 0 {
				t.Errorf("Stats() = %+v, want the error counted", st)
			}
		})
	}
}

// TestDeadLetter parks an event the projection keeps failing on, and goes
// on with the rest.
func TestDeadLetter(t *testing.T) {
	f := newSeqFeed(10, 25)
	srv := httptest.NewServer(f)
	defer srv.Close()
	bad := "urn:test:13"
	r := memory.NewReplica(func(ev eventfeed.Event) error {
		if ev.ID == bad {
			return errors.New("cannot apply")
		}
		return nil
	})
	cfg := fastRetry()
	cfg.DeadLetter = true
	cfg.MaxRetries = 3
	p := newPoller(t, srv.URL+"/feed", r, cfg)
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	var want []string
	for _, id := range f.all() {
		if id != bad {
			want = append(want, id)
		}
	}
	sameIDs(t, ids(r.Applied()), want)
	dead := r.DeadLetters()
	if len(dead) != 1 || dead[0].Event.ID != bad || !strings.Contains(dead[0].Reason, "cannot apply") {
		t.Fatalf("dead letters = %+v, want %s parked with its reason", dead, bad)
	}
	if st := p.Stats(); st.Parked != 1 || st.Events != uint64(len(want)) {
		t.Errorf("Stats() Parked %d Events %d, want 1 and %d", st.Parked, st.Events, len(want))
	}
}

// TestApplyRetries retries a failing batch without skipping it until the
// projection recovers.
func TestApplyRetries(t *testing.T) {
	f := newSeqFeed(10, 25)
	srv := httptest.NewServer(f)
	defer srv.Close()
	var failures int
	r := memory.NewReplica(func(ev eventfeed.Event) error {
		if ev.ID == "urn:test:13" && failures < 4 {
			failures++
			return errors.New("not yet")
		}
		return nil
	})
	p := newPoller(t, srv.URL+"/feed", r, fastRetry())
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	sameIDs(t, ids(r.Applied()), f.all())
	if st := p.Stats(); st.Retries < 4 || len(r.DeadLetters()) != 0 {
		t.Errorf("Stats().Retries = %d, dead letters %d; want at least 4 retries and none parked", st.Retries, len(r.DeadLetters()))
	}
}

// TestLongPoll follows a feed at its head with long polls: appends arrive
// without interval polling.
func TestLongPoll(t *testing.T) {
	f := newSeqFeed(10, 5)
	srv := httptest.NewServer(f)
	defer srv.Close()
	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.Wait = 5 * time.Second
	cfg.MinInterval = time.Hour // would stall the test if used
	p := newPoller(t, srv.URL+"/feed", r, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for i := range 5 {
		waitFor(t, 5*time.Second, func() bool { return len(r.Applied()) == len(f.all()) })
		waitFor(t, 5*time.Second, func() bool { return f.polls.Load() > int64(i) })
		f.append(4)
	}
	waitFor(t, 5*time.Second, func() bool { return len(r.Applied()) == len(f.all()) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	sameIDs(t, ids(r.Applied()), f.all())
}

// TestIntervalPolling checks that a server that does not hold requests is
// polled at intervals, not in a busy loop.
func TestIntervalPolling(t *testing.T) {
	f := newSeqFeed(10, 5)
	f.noLongPoll = true
	var requests atomicCounter
	srv := httptest.NewServer(requests.wrap(f))
	defer srv.Close()
	r := memory.NewReplica(nil)
	cfg := fastRetry()
	const interval = 100 * time.Millisecond
	cfg.MinInterval = interval
	p := newPoller(t, srv.URL+"/feed", r, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	// Caught up, then polled at least once more and answered 304; then
	// new events arrive and must be found by a later poll.
	waitFor(t, 10*time.Second, func() bool { return len(r.Applied()) == 5 && p.Stats().NotModified > 0 })
	f.append(3)
	waitFor(t, 10*time.Second, func() bool { return len(r.Applied()) == 8 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	elapsed := time.Since(start)
	sameIDs(t, ids(r.Applied()), f.all())
	// Polls are at least interval apart: however long the machine took,
	// no more than one per interval, plus the catch-up's own requests.
	if n, limit := requests.n.Load(), int64(elapsed/interval)+5; n > limit {
		t.Errorf("%d requests in %v with a %v interval, want at most %d", n, elapsed, interval, limit)
	}
}

// TestRunStops checks that Run returns when its context ends and leaves no
// goroutine behind, at the head and while catching up.
func TestRunStops(t *testing.T) {
	f := newSeqFeed(10, 200)
	fy := newFaulty(f, 0.2, 2, faultSlow)
	srv := httptest.NewServer(fy)
	defer srv.Close()
	before := runtime.NumGoroutine()
	for _, after := range []time.Duration{0, 5 * time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond} {
		r := memory.NewReplica(nil)
		p := newPoller(t, srv.URL+"/feed", r, fastRetry())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(after)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run cancelled after %v: %v, want nil", after, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Run did not return within 5s of its context's end")
		}
		if got := p.Sync(context.Background()); got != nil {
			t.Fatalf("Sync after Run: %v", got)
		}
		sameIDs(t, ids(r.Applied()), f.all())
	}
	srv.CloseClientConnections()
	waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
}

// TestBusy refuses a second Sync while one runs.
func TestBusy(t *testing.T) {
	f := newSeqFeed(10, 5)
	srv := httptest.NewServer(f)
	defer srv.Close()
	p := newPoller(t, srv.URL+"/feed", memory.NewReplica(nil), fastRetry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, 5*time.Second, func() bool { return p.Stats().CaughtUp })
	if err := p.Sync(context.Background()); !errors.Is(err, poller.ErrBusy) {
		t.Errorf("Sync during Run: %v, want ErrBusy", err)
	}
	cancel()
	<-done
}

// TestNew checks New's validation and the feed name it derives.
func TestNew(t *testing.T) {
	tests := []struct {
		source, feed string
		cfg          poller.Config
		ok           bool
	}{
		{"http://example.com/feeds/orders", "orders", poller.Config{}, true},
		{"https://example.com/feeds/Orders%20EU/", "orders-eu", poller.Config{}, true},
		{"http://example.com/", "example.com", poller.Config{}, true},
		{"http://example.com/x", "mine", poller.Config{FeedName: "mine"}, true},
		{"http://example.com/x", "", poller.Config{FeedName: "Not Valid"}, false},
		{"ftp://example.com/x", "", poller.Config{}, false},
		{"/relative", "", poller.Config{}, false},
		{"http://example.com/x", "", poller.Config{AllowedOrigins: []string{"not a url"}}, false},
	}
	for _, tt := range tests {
		p, err := poller.New(tt.source, memory.NewReplica(nil), tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, %+v): error %v, want ok=%v", tt.source, tt.cfg, err, tt.ok)
			continue
		}
		if err == nil && p.FeedName() != tt.feed {
			t.Errorf("New(%q).FeedName() = %q, want %q", tt.source, p.FeedName(), tt.feed)
		}
	}
	if _, err := poller.New("http://example.com/x", nil, poller.Config{}); err == nil {
		t.Errorf("New with a nil replica succeeded")
	}
}

// TestSource checks that Source names the checkpoint that Sync commits.
func TestSource(t *testing.T) {
	e := newPubEnv(t, 5, publisher.Config{})
	e.add(t, "orders", 7)
	r := memory.NewReplica(nil)
	p := newPoller(t, e.url("orders")+"#the-orders", r, fastRetry())
	if got, want := p.Source(), e.url("orders"); got != want {
		t.Errorf("Source() = %q, want %q (the URL without its fragment)", got, want)
	}
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp, err := r.Checkpoint(context.Background(), p.Source())
	if err != nil || cp.Seq != 7 {
		t.Errorf("Checkpoint(Source()) = %+v, %v; want the checkpoint at seq 7", cp, err)
	}
}

// TestAllowedOrigins follows a link to another origin when it is allowed.
func TestAllowedOrigins(t *testing.T) {
	other := httptest.NewServer(newSite(map[string]string{"/x": doc(true, nil, jsonEntry("x", 1))}))
	defer other.Close()
	srv := httptest.NewServer(newSite(map[string]string{"/f": doc(false, []string{"prev-archive", other.URL + "/x"}, jsonEntry("y", 2))}))
	defer srv.Close()
	for _, cfg := range []poller.Config{{AllowedOrigins: []string{other.URL}}, {AllowCrossOrigin: true}} {
		r := memory.NewReplica(nil)
		if err := syncCtx(t, newPoller(t, srv.URL+"/f", r, cfg)); err != nil {
			t.Fatalf("Sync with %+v: %v", cfg, err)
		}
		sameIDs(t, ids(r.Applied()), []string{"x", "y"})
	}
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
