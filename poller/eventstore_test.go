package poller_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store/memory"
)

// esdb serves one stream the way EventStoreDB's Atom API (v5) does: the
// head /streams/{name} and /streams/{name}/head/backward/{count} hold the
// newest page; /streams/{name}/{n}/forward/{count} and
// /streams/{name}/{n}/backward/{count} the others; links first (newest
// page), last (oldest, only when the stream spans more than a page),
// previous (newer entries), next (older, only when there are some);
// entries newest first, ids /streams/{name}/{number}, content only with
// ?embed=body (kept in the links); ES-LongPoll holds a request whose
// If-None-Match is current.
type esdb struct {
	name  string
	count int
	// plainIDs writes entry ids that carry no event number, as a paged
	// feed that is not EventStoreDB's may.
	plainIDs bool

	mu        sync.Mutex
	n         int
	changed   chan struct{}
	longPolls atomic.Int64
}

func newESDB(name string, n int) *esdb {
	return &esdb{name: name, count: 20, n: n, changed: make(chan struct{})}
}

func (s *esdb) append(k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += k
	close(s.changed)
	s.changed = make(chan struct{})
}

// ids returns the IDs of the events applied from the stream, oldest first,
// as base names them.
func (s *esdb) ids(base string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, s.n)
	for i := range out {
		out[i] = fmt.Sprintf("%s/streams/%s/%d", base, s.name, i)
	}
	return out
}

// render writes the page holding events from..to (inclusive, to < from
// for an empty page), with its links.
func (s *esdb) render(base, query string, from, to int, links map[string]string) string {
	var b strings.Builder
	stream := base + "/streams/" + s.name
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">`+
		`<title>Event stream '%s'</title><id>%s</id><updated>2025-01-01T00:00:00Z</updated><author><name>EventStore</name></author>`, s.name, stream)
	for _, rel := range []string{"self", "first", "last", "next", "previous", "metadata"} {
		if href, ok := links[rel]; ok {
			if rel != "metadata" {
				href += query
			}
			fmt.Fprintf(&b, `<link href="%s" rel="%s"/>`, html.EscapeString(href), rel)
		}
	}
	for e := to; e >= from; e-- {
		id := fmt.Sprintf("%s/%d", stream, e)
		if s.plainIDs {
			id = fmt.Sprintf("urn:uuid:00000000-0000-0000-0000-%012d", e)
		}
		// Many events share a second: the times cannot order them.
		fmt.Fprintf(&b, `<entry><title>%d@%s</title><id>%s</id><updated>%s</updated><author><name>EventStore</name></author>`+
			`<summary>thing.happened</summary><link href="%s/%d" rel="edit"/><link href="%s/%d" rel="alternate"/>`,
			e, s.name, html.EscapeString(id), at(e/7).Format(time.RFC3339), stream, e, stream, e)
		if strings.Contains(query, "embed=body") {
			fmt.Fprintf(&b, `<content type="application/json">{"n":%d}</content>`, e)
		}
		b.WriteString("</entry>")
	}
	b.WriteString("</feed>")
	return b.String()
}

func (s *esdb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	base := "http://" + r.Host
	query := ""
	if r.URL.RawQuery != "" {
		query = "?" + r.URL.RawQuery
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/streams/"+s.name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	page := func() (string, string, bool, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		n, c := s.n, s.count
		stream := base + "/streams/" + s.name
		links := map[string]string{"first": stream + "/head/backward/" + strconv.Itoa(c), "metadata": stream + "/metadata"}
		if n > c {
			links["last"] = stream + "/0/forward/" + strconv.Itoa(c)
		}
		var from, to int
		full := false
		switch parts := strings.Split(strings.Trim(rest, "/"), "/"); {
		case rest == "" || rest == "/head/backward/"+strconv.Itoa(c):
			links["self"] = stream
			from, to = max(n-c, 0), n-1
			if from > 0 {
				links["next"] = fmt.Sprintf("%s/%d/backward/%d", stream, from-1, c)
			}
			links["previous"] = fmt.Sprintf("%s/%d/forward/%d", stream, n, c)
		case len(parts) == 3 && parts[2] == strconv.Itoa(c) && (parts[1] == "forward" || parts[1] == "backward"):
			k, err := strconv.Atoi(parts[0])
			if err != nil || k < 0 {
				return "", "", false, false
			}
			links["self"] = fmt.Sprintf("%s/%d/%s/%d", stream, k, parts[1], c)
			if parts[1] == "forward" {
				from, to = k, min(k+c-1, n-1)
				full = k+c-1 < n
			} else {
				from, to = max(k-c+1, 0), min(k, n-1)
				full = k < n
			}
			if from > 0 {
				links["next"] = fmt.Sprintf("%s/%d/backward/%d", stream, from-1, c)
			}
			links["previous"] = fmt.Sprintf("%s/%d/forward/%d", stream, max(to+1, from), c)
		default:
			return "", "", false, false
		}
		return s.render(base, query, from, to, links), fmt.Sprintf(`"%d;%d"`, n-1, len(rest)), full, true
	}
	body, etag, full, ok := page()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm == etag {
		if wait, _ := strconv.Atoi(r.Header.Get("ES-LongPoll")); wait > 0 {
			s.longPolls.Add(1)
			s.mu.Lock()
			ch := s.changed
			s.mu.Unlock()
			t := time.NewTimer(time.Duration(wait) * time.Second)
			defer t.Stop()
			select {
			case <-ch:
				body, etag, full, _ = page()
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
	if full {
		w.Header().Set("Cache-Control", "max-age=31536000, public")
	} else {
		w.Header().Set("Cache-Control", "max-age=0, no-cache, must-revalidate")
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	fmt.Fprint(w, body)
}

// TestEventStoreStream follows EventStoreDB streams: from the oldest page
// by previous links, across growth by more than a page, across restarts,
// from a stream that first fit on its head page.
func TestEventStoreStream(t *testing.T) {
	for _, tt := range []struct {
		name   string
		start  int
		growth []int
	}{
		{"60 events", 60, []int{0, 30, 1, 45}},
		{"small first", 5, []int{50, 0, 20}},
		{"one page exactly", 20, []int{20, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newESDB("orders-1", tt.start)
			srv := httptest.NewServer(s)
			defer srv.Close()
			source := srv.URL + "/streams/orders-1?embed=body"
			r := memory.NewReplica(nil)
			same := newPoller(t, source, r, fastRetry())
			for i, grow := range tt.growth {
				s.append(grow)
				p := same
				if i%2 == 1 {
					p = newPoller(t, source, r, fastRetry()) // a restart
				}
				if err := syncCtx(t, p); err != nil {
					t.Fatalf("Sync after %d more: %v", grow, err)
				}
				sameIDs(t, ids(r.Applied()), s.ids(srv.URL))
			}
			for i, ev := range r.Applied() {
				if ev.Seq != uint64(i+1) || string(ev.Data) != fmt.Sprintf(`{"n":%d}`, i) {
					t.Fatalf("event %d: Seq %d, Data %s; want Seq %d and its body", i, ev.Seq, ev.Data, i+1)
				}
			}
		})
	}
}

// TestEventStoreRun follows a stream at its head, where new events come
// by an ES-LongPoll request.
func TestEventStoreRun(t *testing.T) {
	s := newESDB("orders-1", 25)
	srv := httptest.NewServer(s)
	defer srv.Close()
	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.Wait = time.Second
	p := newPoller(t, srv.URL+"/streams/orders-1?embed=body", r, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for _, grow := range []int{3, 30, 1} {
		waitFor(t, 20*time.Second, func() bool { return s.longPolls.Load() > 0 && len(r.Applied()) == len(s.ids(srv.URL)) })
		s.append(grow)
	}
	waitFor(t, 20*time.Second, func() bool { return len(r.Applied()) >= len(s.ids(srv.URL)) })
	sameIDs(t, ids(r.Applied()), s.ids(srv.URL))
}

// TestPagedRefused checks that paged feeds whose order or content cannot
// be established are refused at once, with nothing applied.
func TestPagedRefused(t *testing.T) {
	for _, tt := range []struct {
		name, query string
		plainIDs    bool
		want        string
	}{
		{"no embed", "", false, "embed=body"},
		{"entries not numbered", "?embed=body", true, "numbered IDs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newESDB("orders-1", 60)
			s.plainIDs = tt.plainIDs
			srv := httptest.NewServer(s)
			defer srv.Close()
			r := memory.NewReplica(nil)
			err := syncCtx(t, newPoller(t, srv.URL+"/streams/orders-1"+tt.query, r, fastRetry()))
			if !errors.Is(err, poller.ErrUnsupportedFeed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sync = %v, want poller.ErrUnsupportedFeed saying %q", err, tt.want)
			}
			if n := len(r.Applied()); n != 0 {
				t.Errorf("%d events applied, want none", n)
			}
		})
	}
}
