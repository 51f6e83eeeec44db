package publisher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// wipeLog is a store.Log that can be wiped and rebuilt: it serves the
// memory log last stored, and runs a hook before each Read.
type wipeLog struct {
	cur        atomic.Pointer[memory.Log]
	beforeRead atomic.Pointer[func()]
}

func (l *wipeLog) Append(ctx context.Context, events ...eventfeed.Event) ([]eventfeed.Event, error) {
	return l.cur.Load().Append(ctx, events...)
}

func (l *wipeLog) Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error) {
	if hook := l.beforeRead.Swap(nil); hook != nil {
		(*hook)()
	}
	return l.cur.Load().Read(ctx, feed, from, to)
}

func (l *wipeLog) Feed(ctx context.Context, name string) (store.Feed, error) {
	return l.cur.Load().Feed(ctx, name)
}

func (l *wipeLog) Feeds(ctx context.Context) ([]store.Feed, error) {
	return l.cur.Load().Feeds(ctx)
}

func (l *wipeLog) Wait(ctx context.Context, feed string, after uint64) (store.Feed, error) {
	return l.cur.Load().Wait(ctx, feed, after)
}

// TestWipeDuringRender wipes and rebuilds the log between the lookup of a
// feed and the read of its events, for a full page, an entry and the
// subscription document: nothing of the new epoch is served (or cached)
// under a URL of the old one.
func TestWipeDuringRender(t *testing.T) {
	build := func(data string) *memory.Log {
		m := memory.NewLog(memory.Options{PageSize: 3})
		t.Cleanup(func() { m.Close() })
		for i := 1; i <= 4; i++ {
			ev := testEvent("orders", i)
			ev.Subject = "log-" + data // in the clear in every document
			if _, err := m.Append(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	l := new(wipeLog)
	l.cur.Store(build("old"))
	h, err := publisher.New(l, publisher.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(u string) (int, string, problemDoc) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var p problemDoc
		if resp.Header.Get("Content-Type") == "application/problem+json" {
			json.Unmarshal(b, &p)
		}
		return resp.StatusCode, string(b), p
	}
	for i, path := range []string{"pages/1", "entries/2", ""} {
		f, err := l.Feed(context.Background(), "orders")
		if err != nil {
			t.Fatal(err)
		}
		u := srv.URL + "/orders/" + f.Epoch + "/" + path
		if path == "" {
			u = srv.URL + "/orders"
		}
		rebuilt := fmt.Sprintf("new-%d", i)
		wipe := func() { l.cur.Store(build(rebuilt)) }
		l.beforeRead.Store(&wipe)
		status, body, p := get(u)
		if strings.Contains(body, rebuilt) {
			t.Errorf("GET %s, the log rebuilt between lookup and read: %d with the new epoch's events under the old epoch's URL", u, status)
		}
		switch {
		case path == "" && status != http.StatusServiceUnavailable:
			t.Errorf("GET %s during a reset: status %d, want 503", u, status)
		case path != "" && (status != http.StatusNotFound || p.Type != eventfeed.ProblemFeedReset):
			t.Errorf("GET %s during a reset: status %d problem %q, want 404 %s", u, status, p.Type, eventfeed.ProblemFeedReset)
		}
		// Asked again: the old URL is of a reset feed, nothing was cached
		// under it; the subscription document is the new epoch's.
		status, body, p = get(u)
		switch {
		case path == "" && (status != 200 || !strings.Contains(body, rebuilt)):
			t.Errorf("GET %s after the reset: status %d, want 200 with the new events", u, status)
		case path != "" && (status != http.StatusNotFound || p.Type != eventfeed.ProblemFeedReset):
			t.Errorf("GET %s again: status %d problem %q, want 404 %s", u, status, p.Type, eventfeed.ProblemFeedReset)
		}
	}
}
