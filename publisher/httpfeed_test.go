package publisher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// oddEvents are events whose data takes every path of the CloudEvents
// mapping: JSON kept byte for byte (whitespace included), text and XML as
// strings, binary and invalid text or JSON as Base64, no data at all.
func oddEvents(feedName string) []eventfeed.Event {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)
	evs := []eventfeed.Event{
		{Type: "order.placed", Subject: "order-1", Data: []byte(`{"total": 10, "items": [ 1, 2 ],` + "\n" + ` "note":"a < b & \"c\""}`)},
		{Type: "order.noted", Subject: "order-1", ContentType: "text/plain; charset=utf-8", Data: []byte("line 1\nline \"2\"\t\\ – ünïcödé \u2028")},
		{Type: "order.xml", ContentType: "application/atom+xml", Data: []byte(`<x a="1">&amp;</x>`)},
		{Type: "order.blob", Subject: "order-2", ContentType: "application/octet-stream", Data: []byte{0, 1, 2, 0xff, 0xfe, '"'}},
		{Type: "order.badtext", ContentType: "text/plain", Data: []byte{'a', 0xff, 'b'}},
		{Type: "order.empty", Subject: "order-3"},
		{Type: "order.vnd", ContentType: "application/vnd.example+json", Data: []byte(`"just a string"`)},
	}
	for i := range evs {
		evs[i].Feed = feedName
		evs[i].ID = fmt.Sprintf("urn:example:%s:%d", feedName, i+1)
		evs[i].Time = t0.Add(time.Duration(i) * time.Second)
	}
	return evs
}

// parseBatch parses a batch with the CloudEvents SDK, validating each event.
func parseBatch(t *testing.T, body []byte) []cloudevents.Event {
	t.Helper()
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("batch is not a JSON array: %v\n%s", err, body)
	}
	out := make([]cloudevents.Event, len(raw))
	for i, m := range raw {
		out[i] = parseCloudEvent(t, m)
	}
	return out
}

func parseCloudEvent(t *testing.T, b []byte) cloudevents.Event {
	t.Helper()
	ev := cloudevents.New()
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("CloudEvents SDK refuses %s: %v", b, err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatalf("CloudEvents SDK: %s is invalid: %v", b, err)
	}
	return ev
}

// checkSame fails unless the SDK's reading of a served event has the
// attributes and data bytes of what was appended.
func checkSame(t *testing.T, got cloudevents.Event, want eventfeed.Event, source string) {
	t.Helper()
	checks := []struct{ name, got, want string }{
		{"specversion", got.SpecVersion(), "1.0"},
		{"id", got.ID(), want.ID},
		{"source", got.Source(), source},
		{"type", got.Type(), want.Type},
		{"subject", got.Subject(), want.Subject},
		{"datacontenttype", got.DataContentType(), want.MediaType()},
		{"data", string(got.Data()), string(want.Data)},
		{"efseq", fmt.Sprint(got.Extensions()[publisher.ExtSeq]), strconv.FormatUint(want.Seq, 10)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("event %s: %s %q, want %q", want.ID, c.name, c.got, c.want)
		}
	}
	if !got.Time().Equal(want.Time) {
		t.Errorf("event %s: time %v, want %v", want.ID, got.Time(), want.Time)
	}
}

// follow reads the http-feed of name from after lastEventID as an
// unmodified client does (following redirects), and returns the batches'
// events and the responses' final URLs.
func follow(t *testing.T, e *env, name, lastEventID string) ([]cloudevents.Event, []string) {
	t.Helper()
	client := &http.Client{Transport: e.tr}
	var all []cloudevents.Event
	var urls []string
	for range 100 {
		u := e.url(name + "/events")
		if lastEventID != "" {
			u += "?lastEventId=" + url.QueryEscape(lastEventID)
		}
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, buf.Bytes())
		}
		if ct := resp.Header.Get("Content-Type"); ct != publisher.MediaTypeCloudEventsBatch {
			t.Fatalf("GET %s: Content-Type %q", u, ct)
		}
		batch := parseBatch(t, buf.Bytes())
		if len(batch) == 0 {
			return all, urls
		}
		urls = append(urls, resp.Request.URL.String())
		all = append(all, batch...)
		lastEventID = batch[len(batch)-1].ID()
	}
	t.Fatal("the feed did not end in 100 batches")
	return nil, nil
}

func TestHTTPFeedOracle(t *testing.T) {
	for _, mode := range []string{"relative", "BaseURL"} {
		t.Run(mode, func(t *testing.T) {
			cfg := publisher.Config{}
			e := newEnv(t, 3, cfg)
			if mode == "BaseURL" {
				var err error
				if e.h, err = publisher.New(e.log, publisher.Config{BaseURL: e.srv.URL + "/feeds/"}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(e.h.Close)
				e.mount(e.h, "/feeds")
			}
			stored, err := e.mem.Append(context.Background(), oddEvents("odd")...)
			if err != nil {
				t.Fatal(err)
			}
			source := "/odd"
			if mode == "BaseURL" {
				source = e.srv.URL + "/feeds/odd"
			}
			got, urls := follow(t, e, "odd", "")
			if len(got) != len(stored) {
				t.Fatalf("read %d events, want %d", len(got), len(stored))
			}
			for i := range stored {
				checkSame(t, got[i], stored[i], source)
			}
			// Pages of 3, 8 events: two full batches at their immutable
			// URLs, then the working page's two at the endpoint.
			epoch := e.feed("odd").Epoch
			want := []string{
				e.url("odd/" + epoch + "/batches/1"), e.url("odd/" + epoch + "/batches/2"),
				e.url("odd/events?lastEventId=" + url.QueryEscape(stored[5].ID)),
			}
			if strings.Join(urls, " ") != strings.Join(want, " ") {
				t.Errorf("batches came from\n%v\nwant\n%v", urls, want)
			}
			for i := range stored {
				r := e.mustGet(e.url(fmt.Sprintf("odd/%s/events/%d", epoch, i+1)))
				if ct := r.Header.Get("Content-Type"); ct != publisher.MediaTypeCloudEvent {
					t.Errorf("event %d: Content-Type %q", i+1, ct)
				}
				if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
					t.Errorf("event %d: Cache-Control %q", i+1, cc)
				}
				checkSame(t, parseCloudEvent(t, r.body), stored[i], source)
			}
		})
	}
}

func TestHTTPFeedCaching(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("a", 0, 7)
	ep := e.feed("a").Epoch
	id := func(i int) string { return url.QueryEscape(testEvent("a", i).ID) }

	// From the start, and after an event at a page boundary, a full
	// page is a redirect to its immutable URL.
	for _, tt := range []struct{ query, location string }{
		{"", ep + "/batches/1"},
		{"?lastEventId=" + id(3), ep + "/batches/2"},
	} {
		r := e.get(e.url("a/events" + tt.query))
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != tt.location {
			t.Errorf("GET events%s: %d Location %q, want 303 %q", tt.query, r.StatusCode, r.Header.Get("Location"), tt.location)
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=0") {
			t.Errorf("GET events%s: redirect Cache-Control %q, want it revalidated", tt.query, cc)
		}
	}
	full := e.mustGet(e.url("a/" + ep + "/batches/2"))
	if cc := full.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("full batch: Cache-Control %q", cc)
	}
	if l := full.Header.Get("Link"); l != `<3>; rel="next"` {
		t.Errorf("full batch: Link %q, want the next batch", l)
	}
	if r := e.get(e.url("a/"+ep+"/batches/2"), "If-None-Match: "+full.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("full batch, If-None-Match: %d, want 304", r.StatusCode)
	}
	if r := e.get(e.url("a/"+ep+"/batches/2"), "Accept-Encoding: gzip"); !bytes.Equal(gunzip(t, r.body), full.body) {
		t.Errorf("gzipped batch differs")
	}

	// Mid-page: the rest of the page, revalidated by ETag.
	mid := e.mustGet(e.url("a/events?lastEventId=" + id(4)))
	if got := parseBatch(t, mid.body); len(got) != 2 || got[0].ID() != testEvent("a", 5).ID {
		t.Errorf("after 4: %d events", len(got))
	}
	etag := mid.Header.Get("ETag")
	if r := e.get(e.url("a/events?lastEventId="+id(4)), "If-None-Match: "+etag); r.StatusCode != http.StatusNotModified {
		t.Errorf("after 4, If-None-Match: %d, want 304", r.StatusCode)
	}
	// The working page: its ETag changes with the head.
	work := e.mustGet(e.url("a/events?lastEventId=" + id(6)))
	e.add("a", 7, 8)
	if r := e.get(e.url("a/events?lastEventId="+id(6)), "If-None-Match: "+work.Header.Get("ETag")); r.StatusCode != http.StatusOK || len(parseBatch(t, r.body)) != 2 {
		t.Errorf("working page after an append: %d %s, want 200 with 2 events", r.StatusCode, r.body)
	}
	// The end: an empty array.
	if r := e.mustGet(e.url("a/events?lastEventId=" + id(8))); strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("at the head: %s, want []", r.body)
	}
	// The working batch at its own URL; beyond it, nothing.
	if r := e.mustGet(e.url("a/" + ep + "/batches/3")); len(parseBatch(t, r.body)) != 2 || strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("working batch: %s %q", r.body, r.Header.Get("Cache-Control"))
	}
	checkProblem(t, "batch 4", e.get(e.url("a/"+ep+"/batches/4")), http.StatusNotFound, "batches are numbered 1 to 3")
}

func TestHTTPFeedErrors(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("a", 0, 4)
	e.add("b", 0, 1)
	for _, tt := range []struct {
		query, typ string
		status     int
		detail     string
	}{
		{"?lastEventId=nope", eventfeed.ProblemUnknownEvent, http.StatusNotFound, `has no event "nope"`},
		{"?lastEventId=" + url.QueryEscape(testEvent("b", 1).ID), eventfeed.ProblemUnknownEvent, http.StatusNotFound, "has no event"},
		{"?timeout=soon", "", http.StatusBadRequest, "milliseconds"},
		{"?timeout=-5", "", http.StatusBadRequest, "milliseconds"},
	} {
		u := e.url("a/events" + tt.query)
		p := checkProblem(t, tt.query, e.get(u), tt.status, tt.detail)
		if p.Type != tt.typ {
			t.Errorf("%s: problem type %q, want %q", tt.query, p.Type, tt.typ)
		}
		if tt.typ != "" && resolve(t, u, p.Current) != e.url("a/events") {
			t.Errorf("%s: problem's current %q resolves to %s, want the endpoint", tt.query, p.Current, resolve(t, u, p.Current))
		}
	}
	checkProblem(t, "unknown feed", e.get(e.url("nofeed/events")), http.StatusNotFound, "does not exist")
	checkProblem(t, "other epoch", e.get(e.url("a/0123456789abcdef/batches/1")), http.StatusNotFound, "was reset")
	checkProblem(t, "POST", e.do(http.MethodPost, e.url("a/events"), nil), http.StatusMethodNotAllowed, "not allowed")
}

// A lastEventId the Handler never served (a restart, or another instance
// served it) is found in the log: by its Locate method (memory.Log), or
// by reading the feed backwards (countingLog hides Locate).
func TestHTTPFeedLocate(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("a", 0, 10)
	for _, log := range []store.Log{e.log, e.mem} {
		testHTTPFeedLocate(t, e, log)
	}
}

func testHTTPFeedLocate(t *testing.T, e *env, log store.Log) {
	for _, i := range []int{1, 5, 9, 10} {
		h, err := publisher.New(log, publisher.Config{})
		if err != nil {
			t.Fatal(err)
		}
		e.mount(h, "/feeds")
		client := &http.Client{Transport: e.tr}
		resp, err := client.Get(e.url("a/events?lastEventId=" + url.QueryEscape(testEvent("a", i).ID)))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		h.Close()
		got := parseBatch(t, buf.Bytes())
		if i == 10 && len(got) != 0 || i < 10 && (len(got) == 0 || got[0].ID() != testEvent("a", i+1).ID) {
			t.Errorf("after %d: %d events, first %v", i, len(got), got)
		}
	}
}

func TestHTTPFeedLongPoll(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("a", 0, 2)
	last := url.QueryEscape(testEvent("a", 2).ID)
	done := make(chan response, 1)
	go func() {
		// Not e.get: t.Fatal must not be called off the test's goroutine.
		resp, err := e.tr.RoundTrip(mustRequest(e.url("a/events?timeout=60000&lastEventId=" + last)))
		if err != nil {
			done <- response{}
			return
		}
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		resp.Body.Close()
		done <- response{resp, buf.Bytes()}
	}()
	waitFor(t, "the long poll to wait", func() bool { return e.h.Stats().Waiting == 1 })
	e.add("a", 2, 3)
	r := <-done
	if r.Response == nil || r.StatusCode != http.StatusOK {
		t.Fatalf("long poll: %v", r.Response)
	}
	if got := parseBatch(t, r.body); len(got) != 1 || got[0].ID() != testEvent("a", 3).ID {
		t.Errorf("long poll brought %d events, want event 3", len(got))
	}
	// A timeout that runs out answers the empty array.
	r = e.mustGet(e.url("a/events?timeout=1&lastEventId=" + url.QueryEscape(testEvent("a", 3).ID)))
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("timed-out poll: %s, want []", r.body)
	}
}

func mustRequest(u string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		panic(err)
	}
	return req
}

// laggingLog is a memory.Log whose Feed reports a head lag events behind,
// as an instance that has not heard of the latest appends yet; Wait
// reports the truth.
type laggingLog struct {
	*memory.Log
	lag uint64
}

func (l *laggingLog) Feed(ctx context.Context, name string) (store.Feed, error) {
	f, err := l.Log.Feed(ctx, name)
	f.Head -= min(l.lag, f.Head)
	return f, err
}

// A lastEventId past the head this instance knows (another instance
// served it) is waited for, not called unknown.
func TestHTTPFeedLaggingHead(t *testing.T) {
	mem := memory.NewLog(memory.Options{PageSize: 3})
	defer mem.Close()
	for i := 1; i <= 5; i++ {
		if _, err := mem.Append(context.Background(), testEvent("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := publisher.New(&laggingLog{Log: mem, lag: 2}, publisher.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, tt := range []struct {
		last int
		want string
	}{{5, "[]"}, {4, testEvent("a", 5).ID}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/a/events?lastEventId="+url.QueryEscape(testEvent("a", tt.last).ID), nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("after %d: %d %s, want 200 with %s", tt.last, rec.Code, rec.Body, tt.want)
		}
	}
}
