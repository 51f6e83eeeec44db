package poller_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// pubEnv is a real publisher over a memory log, mounted at /feeds/.
type pubEnv struct {
	log *memory.Log
	h   *publisher.Handler
	srv *httptest.Server
}

func newPubEnv(t testing.TB, pageSize int, cfg publisher.Config) *pubEnv {
	t.Helper()
	return newPubEnvOver(t, memory.NewLog(memory.Options{PageSize: pageSize}), cfg)
}

// newPubEnvOver is newPubEnv with a publisher of its own over log.
func newPubEnvOver(t testing.TB, log *memory.Log, cfg publisher.Config) *pubEnv {
	t.Helper()
	e := &pubEnv{log: log}
	var err error
	if e.h, err = publisher.New(e.log, cfg); err != nil {
		t.Fatalf("publisher.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", e.h))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Close()
		e.h.Close()
	})
	return e
}

// url is the subscription URL of feed.
func (e *pubEnv) url(feed string) string { return e.srv.URL + "/feeds/" + feed }

// add appends n events of about 100 bytes to feed and returns their IDs.
func (e *pubEnv) add(t testing.TB, feed string, n int) []string {
	t.Helper()
	events := make([]eventfeed.Event, n)
	for i := range events {
		events[i] = eventfeed.Event{
			Feed:    feed,
			ID:      fmt.Sprintf("urn:uuid:%s-%d", feed, time.Now().UnixNano()+int64(i)),
			Type:    "order.placed",
			Subject: fmt.Sprintf("order-%d", i%17),
			Data:    []byte(fmt.Sprintf(`{"n":%d,"note":"some text to make it about a hundred bytes long"}`, i)),
		}
	}
	stored, err := e.log.Append(context.Background(), events...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return ids(stored)
}

// logIDs returns the IDs of feed's events in the log, in order.
func (e *pubEnv) logIDs(t testing.TB, feed string) []string {
	t.Helper()
	evs, err := e.log.Read(context.Background(), feed, 1, 1<<62)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return ids(evs)
}

// TestPublisher follows the project's own publisher: first run, resumes
// across page boundaries, and events equal to the log's.
func TestPublisher(t *testing.T) {
	for _, cfg := range []poller.Config{{}, {Prefetch: -1, BatchSize: 1}, {Prefetch: 8, BatchSize: 10_000}} {
		t.Run(fmt.Sprintf("Prefetch=%d,BatchSize=%d", cfg.Prefetch, cfg.BatchSize), func(t *testing.T) {
			testPublisher(t, cfg)
		})
	}
}

func testPublisher(t *testing.T, cfg poller.Config) {
	e := newPubEnv(t, 10, publisher.Config{})
	e.add(t, "orders", 95)
	r := memory.NewReplica(nil)
	src := e.url("orders")
	cfg.Backoff = fastRetry().Backoff
	for _, n := range []int{0, 4, 1, 30, 0} {
		e.add(t, "orders", n)
		p := newPoller(t, src, r, cfg)
		if err := syncCtx(t, p); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		sameIDs(t, ids(r.Applied()), e.logIDs(t, "orders"))
	}
	want, _ := e.log.Read(context.Background(), "orders", 1, 1<<62)
	for i, ev := range r.Applied() {
		w := want[i]
		if ev.Seq != w.Seq || ev.Type != w.Type || ev.Subject != w.Subject || !ev.Time.Equal(w.Time) ||
			string(ev.Data) != string(w.Data) || ev.MediaType() != w.MediaType() || ev.Feed != "orders" {
			t.Fatalf("applied[%d] = %+v, want %+v", i, ev, w)
		}
	}
	cp := checkpointOf(t, r, src)
	if cp.Seq != 130 || cp.LastID != want[129].ID {
		t.Errorf("checkpoint = %+v, want seq 130, ID %s", cp, want[129].ID)
	}
}

// TestPublisherLongPoll follows the publisher at its head: each append
// wakes the long poll and reaches the replica.
func TestPublisherLongPoll(t *testing.T) {
	e := newPubEnv(t, 5, publisher.Config{})
	e.add(t, "orders", 7)
	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.Wait = 10 * time.Second
	cfg.MinInterval = time.Hour // a fallback to interval polling would stall
	p := newPoller(t, e.url("orders"), r, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for i := range 6 {
		waitFor(t, 5*time.Second, func() bool { return len(r.Applied()) == 7+i*3 })
		e.add(t, "orders", 3)
	}
	waitFor(t, 5*time.Second, func() bool { return len(r.Applied()) == 7+6*3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	sameIDs(t, ids(r.Applied()), e.logIDs(t, "orders"))
	if st := p.Stats(); st.SeqLag != 0 || st.Checkpoint.Seq != 25 {
		t.Errorf("Stats() = %+v, want checkpoint at seq 25 and no seq lag", st)
	}
}

// TestPublisherFeedNotYet starts a consumer before the feed's first event:
// Run waits for the feed to appear, saying so once at Info and counting no
// error, while Sync reports the 404.
func TestPublisherFeedNotYet(t *testing.T) {
	e := newPubEnv(t, 5, publisher.Config{})
	r := memory.NewReplica(nil)
	logs := new(levelCounter)
	cfg := fastRetry()
	cfg.Logger = slog.New(logs)
	p := newPoller(t, e.url("orders"), r, cfg)

	var he *poller.HTTPError
	if err := p.Sync(context.Background()); !errors.As(err, &he) || he.Status != http.StatusNotFound {
		t.Fatalf("Sync of a feed without events = %v, want a 404 *HTTPError", err)
	}
	errorsBefore := p.Stats().Errors
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, 5*time.Second, func() bool { return logs.notYet(slog.LevelDebug) >= 2 }) // Run has looked, and looked again
	select {
	case err := <-done:
		t.Fatalf("Run ended while the feed did not exist: %v", err)
	default:
	}
	if n := logs.notYet(slog.LevelInfo); n != 1 {
		t.Errorf("%d Info lines while waiting for the first event, want 1", n)
	}
	if n := logs.count(slog.LevelWarn) + logs.count(slog.LevelError); n != 0 {
		t.Errorf("%d Warn or Error lines while waiting for the first event, want none", n)
	}
	if st := p.Stats(); st.Errors != errorsBefore {
		t.Errorf("Stats().Errors went from %d to %d while Run waited for the first event, want no error counted", errorsBefore, st.Errors)
	}
	e.add(t, "orders", 3)
	waitFor(t, 5*time.Second, func() bool { return len(r.Applied()) == 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	sameIDs(t, ids(r.Applied()), e.logIDs(t, "orders"))
}

// levelCounter is a slog.Handler that counts records by level: all of
// them, and those saying that the feed has no events yet.
type levelCounter struct {
	mu        sync.Mutex
	all, wait map[slog.Level]int
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *levelCounter) WithGroup(string) slog.Handler            { return c }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all == nil {
		c.all, c.wait = make(map[slog.Level]int), make(map[slog.Level]int)
	}
	c.all[r.Level]++
	if strings.HasPrefix(r.Message, "feed not found: it may have no events yet") {
		c.wait[r.Level]++
	}
	return nil
}

// count returns the number of records at l.
func (c *levelCounter) count(l slog.Level) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.all[l]
}

// notYet returns the number of records at l saying the feed has no events
// yet.
func (c *levelCounter) notYet(l slog.Level) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wait[l]
}

// TestPublisherReset resumes a checkpoint of a feed whose log was rebuilt
// under a new epoch: the publisher's 404 says so.
func TestPublisherReset(t *testing.T) {
	e := newPubEnv(t, 5, publisher.Config{})
	e.add(t, "orders", 12)
	r := memory.NewReplica(nil)
	if err := syncCtx(t, newPoller(t, e.url("orders"), r, fastRetry())); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	before := checkpointOf(t, r, e.url("orders"))

	// A new log behind the same URL: the old pages are another epoch's.
	e2 := newPubEnv(t, 5, publisher.Config{})
	e2.add(t, "orders", 20)
	e.srv.Config.Handler = e2.srv.Config.Handler

	err := syncCtx(t, newPoller(t, e.url("orders"), r, fastRetry()))
	if !errors.Is(err, eventfeed.ErrCheckpointLost) || !errors.Is(err, eventfeed.ErrFeedReset) {
		t.Fatalf("Sync after a reset: %v, want ErrCheckpointLost and ErrFeedReset", err)
	}
	if after := checkpointOf(t, r, e.url("orders")); !after.Equal(before) || len(r.Applied()) != 12 {
		t.Errorf("replica changed: checkpoint %+v (was %+v), %d events (was 12)", after, before, len(r.Applied()))
	}
}

// TestPublisherFaults catches up with the publisher through faults.
func TestPublisherFaults(t *testing.T) {
	e := newPubEnv(t, 20, publisher.Config{})
	e.add(t, "orders", 400)
	fy := newFaulty(e.srv.Config.Handler, 0.3, 7)
	e.srv.Config.Handler = fy
	r := memory.NewReplica(nil)
	p := newPoller(t, e.url("orders"), r, fastRetry())
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	sameIDs(t, ids(r.Applied()), e.logIDs(t, "orders"))
	t.Logf("faults injected: %v", fy.injected())
}
