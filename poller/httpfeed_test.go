package poller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

func newHTTPFeed(t testing.TB, url string, r store.Replica, cfg poller.Config) *poller.HTTPFeed {
	t.Helper()
	f, err := poller.NewHTTPFeed(url, r, cfg)
	if err != nil {
		t.Fatalf("NewHTTPFeed(%s): %v", url, err)
	}
	return f
}

func syncFeed(t testing.TB, f *poller.HTTPFeed) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f.Sync(ctx)
}

// Our poller follows our publisher's http-feed: first run, resumes by a
// new HTTPFeed each time (a restart), events equal to the log's,
// binary data included.
func TestHTTPFeedPublisher(t *testing.T) {
	for _, cfg := range []poller.Config{{}, {Prefetch: -1, BatchSize: 1}, {BatchSize: 7}} {
		t.Run(fmt.Sprintf("Prefetch=%d,BatchSize=%d", cfg.Prefetch, cfg.BatchSize), func(t *testing.T) {
			e := newPubEnv(t, 10, publisher.Config{})
			e.add(t, "orders", 95)
			blob := eventfeed.Event{Feed: "orders", ID: "urn:blob", Type: "blob", ContentType: "image/png", Data: []byte{0x89, 'P', 0, 0xff}}
			if _, err := e.log.Append(context.Background(), blob); err != nil {
				t.Fatal(err)
			}
			r := memory.NewReplica(nil)
			src := e.url("orders") + "/events"
			cfg.Backoff = fastRetry().Backoff
			for _, n := range []int{0, 4, 1, 30, 0} {
				e.add(t, "orders", n)
				f := newHTTPFeed(t, src, r, cfg)
				if err := syncFeed(t, f); err != nil {
					t.Fatalf("Sync: %v", err)
				}
				sameIDs(t, ids(r.Applied()), e.logIDs(t, "orders"))
				if !f.Stats().CaughtUp {
					t.Errorf("Stats().CaughtUp is false after Sync")
				}
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
			if cp.Seq != 131 || cp.LastID != want[130].ID {
				t.Errorf("checkpoint = %+v, want seq 131, ID %s", cp, want[130].ID)
			}
		})
	}
}

// Run long-polls the http-feed and is woken by an append made through
// another Log on the same SQLite file, as another process would.
func TestHTTPFeedLongPoll(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	served, err := sqlite.Open(ctx, path, sqlite.Options{PageSize: 5, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	other, err := sqlite.Open(ctx, path, sqlite.Options{PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	h, err := publisher.New(served, publisher.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(http.StripPrefix("/feeds", h))
	defer srv.Close()
	appendN := func(from, to int) {
		for i := from; i <= to; i++ {
			if _, err := other.Append(ctx, eventfeed.Event{Feed: "orders", ID: fmt.Sprintf("urn:o:%d", i), Type: "order.placed", Data: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(1, 7)

	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.Wait = 30 * time.Second
	f := newHTTPFeed(t, srv.URL+"/feeds/orders/events", r, cfg)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	var runErr error
	go func() {
		defer wg.Done()
		runErr = f.Run(runCtx)
	}()
	defer func() {
		cancel()
		h.Close()
		wg.Wait()
		if runErr != nil {
			t.Errorf("Run: %v", runErr)
		}
	}()
	waitFor(t, 20*time.Second, func() bool { return len(r.Applied()) == 7 })
	for _, n := range []int{8, 9, 12} {
		waitFor(t, 20*time.Second, func() bool { return h.Stats().Waiting == 1 })
		appendN(len(r.Applied())+1, n)
		waitFor(t, 20*time.Second, func() bool { return len(r.Applied()) >= n })
	}
	if got := len(r.Applied()); got != 12 {
		t.Errorf("applied %d events, want 12", got)
	}
	if st := f.Stats(); st.Events != 12 || st.Checkpoint.LastID != "urn:o:12" {
		t.Errorf("stats: %d events, checkpoint %+v", st.Events, st.Checkpoint)
	}
}

// ceFixture is an http-feeds server in the shape of the spec's examples:
// events with UUIDs as IDs, scrolled by lastEventId, that can delete and
// compact. It respects the original position of a lastEventId whose event
// was compacted away, as the spec requires.
type ceFixture struct {
	mu     sync.Mutex
	events []map[string]any
	gone   map[int]bool // compacted positions
	limit  int          // events per answer
}

func (s *ceFixture) add(id, subject string, data any, method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := map[string]any{
		"specversion": "1.0",
		"type":        "org.http-feeds.example.inventory",
		"source":      "https://example.http-feeds.org/inventory",
		"id":          id,
		"time":        fmt.Sprintf("2021-01-01T00:00:%02dZ", len(s.events)),
		"subject":     subject,
	}
	if data != nil {
		ev["data"] = data
	}
	if method != "" {
		ev["method"] = method
	}
	s.events = append(s.events, ev)
}

// compact drops every event but the newest of each subject.
func (s *ceFixture) compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone == nil {
		s.gone = map[int]bool{}
	}
	newest := map[any]int{}
	for i, ev := range s.events {
		newest[ev["subject"]] = i
	}
	for i, ev := range s.events {
		if newest[ev["subject"]] != i {
			s.gone[i] = true
		}
	}
}

func (s *ceFixture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := 0
	if last := r.URL.Query().Get("lastEventId"); last != "" {
		from = -1
		for i, ev := range s.events {
			if ev["id"] == last {
				from = i + 1
			}
		}
		if from < 0 {
			http.Error(w, "unknown lastEventId", http.StatusBadRequest)
			return
		}
	}
	out := []map[string]any{}
	for i := from; i < len(s.events) && len(out) < s.limit; i++ {
		if !s.gone[i] {
			out = append(out, s.events[i])
		}
	}
	w.Header().Set("Content-Type", "application/cloudevents-batch+json")
	json.NewEncoder(w).Encode(out)
}

func inventory(sku string, qty int) map[string]any {
	return map[string]any{"sku": sku, "updated": "2022-01-01T00:00:01Z", "quantity": qty}
}

// latest keeps the newest event per subject, removing a subject on
// TypeDeleted: the projection an aggregate feed is made for.
type latest struct {
	mu   sync.Mutex
	docs map[string]string
}

func (l *latest) apply(ev eventfeed.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.docs == nil {
		l.docs = map[string]string{}
	}
	if ev.Type == poller.TypeDeleted {
		delete(l.docs, ev.Subject)
	} else {
		l.docs[ev.Subject] = string(ev.Data)
	}
	return nil
}

func (l *latest) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.docs)
}

// The spec's own example feed, then a deletion.
func TestHTTPFeedFixture(t *testing.T) {
	s := &ceFixture{limit: 2}
	s.add("1c6b8c6e-d8d0-4a91-b51c-1f56bd04c758", "9521234567899", inventory("9521234567899", 5), "")
	s.add("292042fb-ab04-4653-af90-19a24032bffe", "9521234512349", inventory("9521234512349", 0), "")
	s.add("fa3e2a22-398c-4d02-ad08-9415e43178e6", "9521234567899", inventory("9521234567899", 4), "")
	srv := httptest.NewServer(s)
	defer srv.Close()
	var proj latest
	r := memory.NewReplica(proj.apply)
	src := srv.URL + "/inventory"
	if err := syncFeed(t, newHTTPFeed(t, src, r, fastRetry())); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	got := r.Applied()
	if len(got) != 3 {
		t.Fatalf("applied %d events, want 3", len(got))
	}
	ev := got[2]
	if ev.Feed != "inventory" || ev.ID != "fa3e2a22-398c-4d02-ad08-9415e43178e6" || ev.Type != "org.http-feeds.example.inventory" ||
		ev.Subject != "9521234567899" || ev.MediaType() != "application/json" || !ev.Time.Equal(time.Date(2021, 1, 1, 0, 0, 2, 0, time.UTC)) ||
		string(ev.Data) != `{"quantity":4,"sku":"9521234567899","updated":"2022-01-01T00:00:01Z"}` {
		t.Errorf("event 3 = %+v (data %s)", ev, ev.Data)
	}
	s.add("06b13630-e4c3-4d85-a669-ce66fc4daa75", "9521234567899", nil, "DELETE")
	if err := syncFeed(t, newHTTPFeed(t, src, r, fastRetry())); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	got = r.Applied()
	if len(got) != 4 || got[3].Type != poller.TypeDeleted || got[3].Subject != "9521234567899" ||
		string(got[3].Data) != `{"method":"DELETE","type":"org.http-feeds.example.inventory"}` {
		t.Fatalf("deletion applied as %+v", got[len(got)-1])
	}
	if want := `map[9521234512349:{"quantity":0,"sku":"9521234512349","updated":"2022-01-01T00:00:01Z"}]`; proj.String() != want {
		t.Errorf("projection %s, want %s", proj.String(), want)
	}
}

// A compacting server: a replica that read the older events before the
// compaction and one that reads the compacted feed end in the same state,
// each event applied once; the first resumes from an event that is gone.
func TestHTTPFeedCompaction(t *testing.T) {
	s := &ceFixture{limit: 3}
	for i := range 10 {
		s.add(fmt.Sprintf("e%02d", i), fmt.Sprintf("sku-%d", i%3), inventory(fmt.Sprintf("sku-%d", i%3), i), "")
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	src := srv.URL + "/inventory"
	var early latest
	re := memory.NewReplica(early.apply)
	if err := syncFeed(t, newHTTPFeed(t, src, re, fastRetry())); err != nil {
		t.Fatal(err)
	}
	s.add("e10", "sku-1", inventory("sku-1", 10), "")
	s.add("e11", "sku-2", nil, "DELETE")
	s.compact()
	if err := syncFeed(t, newHTTPFeed(t, src, re, fastRetry())); err != nil {
		t.Fatal(err)
	}
	var late latest
	rl := memory.NewReplica(late.apply)
	if err := syncFeed(t, newHTTPFeed(t, src, rl, fastRetry())); err != nil {
		t.Fatal(err)
	}
	want := `map[sku-0:{"quantity":9,"sku":"sku-0","updated":"2022-01-01T00:00:01Z"} sku-1:{"quantity":10,"sku":"sku-1","updated":"2022-01-01T00:00:01Z"}]`
	if early.String() != want || late.String() != want {
		t.Errorf("projections\nearly %s\nlate  %s\nwant  %s", early.String(), late.String(), want)
	}
	// The early replica saw all 12 events once; the late one only the
	// three the compaction left.
	sameIDs(t, ids(re.Applied()), []string{"e00", "e01", "e02", "e03", "e04", "e05", "e06", "e07", "e08", "e09", "e10", "e11"})
	sameIDs(t, ids(rl.Applied()), []string{"e09", "e10", "e11"})
}

func TestHTTPFeedErrors(t *testing.T) {
	serve := func(ct, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("lastEventId") != "" && !strings.HasPrefix(ct, "application/json") {
				w.Header().Set("Content-Type", ct)
				w.Write([]byte("[]"))
				return
			}
			w.Header().Set("Content-Type", ct)
			w.Write([]byte(body))
		})
	}
	ok := `{"specversion":"1.0","id":"a","type":"t","source":"/s"}`
	for _, tt := range []struct {
		name string
		h    http.Handler
		cfg  poller.Config
		want error
	}{
		{"html", serve("text/html", "<html>"), poller.Config{}, poller.ErrNotAFeed},
		{"not an array", serve(publisher.MediaTypeCloudEventsBatch, `{"a":1}`), poller.Config{}, poller.ErrNotAFeed},
		{"specversion", serve(publisher.MediaTypeCloudEventsBatch, `[{"specversion":"0.3","id":"a","type":"t"}]`), poller.Config{}, poller.ErrInvalidEntry},
		{"no id", serve(publisher.MediaTypeCloudEventsBatch, `[{"specversion":"1.0","type":"t"}]`), poller.Config{}, poller.ErrInvalidEntry},
		{"method", serve(publisher.MediaTypeCloudEventsBatch, `[{"specversion":"1.0","id":"a","type":"t","subject":"s","method":"PATCH"}]`), poller.Config{}, poller.ErrInvalidEntry},
		{"text data not a string", serve(publisher.MediaTypeCloudEventsBatch, `[{"specversion":"1.0","id":"a","type":"t","datacontenttype":"text/plain","data":{}}]`), poller.Config{}, poller.ErrInvalidEntry},
		{"bad base64", serve(publisher.MediaTypeCloudEventsBatch, `[{"specversion":"1.0","id":"a","type":"t","data_base64":"!!"}]`), poller.Config{}, poller.ErrInvalidEntry},
		{"too large", serve(publisher.MediaTypeCloudEventsBatch, "["+ok+"]"), poller.Config{MaxBodyBytes: 20}, feedErrTooLarge},
		{"trailing data", serve(publisher.MediaTypeCloudEventsBatch, "["+ok+"] []"), poller.Config{}, poller.ErrInvalidEntry},
		// application/json: the handler answers the same events whatever
		// the lastEventId.
		{"no scrolling", serve("application/json", "["+ok+"]"), poller.Config{}, poller.ErrNotAFeed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.h)
			defer srv.Close()
			r := memory.NewReplica(nil)
			cfg := tt.cfg
			cfg.Backoff = fastRetry().Backoff
			err := syncFeed(t, newHTTPFeed(t, srv.URL+"/x", r, cfg))
			if !errors.Is(err, tt.want) {
				t.Errorf("Sync: %v, want %v", err, tt.want)
			}
			if tt.name != "no scrolling" && len(r.Applied()) != 0 {
				t.Errorf("applied %d events from a refused answer", len(r.Applied()))
			}
		})
	}
}

// A publisher whose log was replaced no longer knows the checkpoint's
// event: the HTTPFeed stops with ErrCheckpointLost instead of starting
// again from the beginning.
func TestHTTPFeedCheckpointLost(t *testing.T) {
	e := newPubEnv(t, 10, publisher.Config{})
	e.add(t, "orders", 5)
	r := memory.NewReplica(nil)
	src := e.url("orders") + "/events"
	if err := syncFeed(t, newHTTPFeed(t, src, r, fastRetry())); err != nil {
		t.Fatal(err)
	}
	fresh := newPubEnv(t, 10, publisher.Config{})
	fresh.add(t, "orders", 3)
	e.srv.Config.Handler = fresh.srv.Config.Handler
	err := syncFeed(t, newHTTPFeed(t, src, r, fastRetry()))
	if !errors.Is(err, eventfeed.ErrCheckpointLost) {
		t.Fatalf("Sync: %v, want ErrCheckpointLost", err)
	}
	if len(r.Applied()) != 5 {
		t.Errorf("applied %d events, want the 5 of before", len(r.Applied()))
	}
}

// Failures worth retrying are retried: 503 with Retry-After, 500, of the
// endpoint and of the batches it redirects to.
func TestHTTPFeedRetries(t *testing.T) {
	e := newPubEnv(t, 4, publisher.Config{})
	e.add(t, "orders", 9)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		switch k {
		case 1, 4:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		case 2, 7:
			http.Error(w, "oops", http.StatusInternalServerError)
			return
		}
		e.srv.Config.Handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	r := memory.NewReplica(nil)
	f := newHTTPFeed(t, srv.URL+"/feeds/orders/events", r, poller.Config{Backoff: fastRetry().Backoff, Prefetch: -1})
	if err := syncFeed(t, f); err != nil {
		t.Fatal(err)
	}
	sameIDs(t, ids(r.Applied()), e.logIDs(t, "orders"))
	if f.Stats().Retries == 0 {
		t.Error("no retries counted")
	}
}

// BenchmarkCatchUpProtocols catches up with the same 100,000 events over
// the Atom feed and over the http-feed of one publisher (pages of 500,
// page cache warm), into a replica that keeps nothing and into a SQLite
// one. Each iteration runs the protocols in turn, in alternating order
// (ABBA over two iterations), so that neither pays more of the disk's
// writeback of the other's replica; it reports events/s and cpu-ns/event
// of each (the publisher's CPU included) and the ratio of their events/s.
func BenchmarkCatchUpProtocols(b *testing.B) {
	const n = 100_000
	e := newPubEnv(b, 500, publisher.Config{PageCacheSize: 1000, PageCacheBytes: 1 << 30})
	benchLog(b, e, n)
	type follower interface {
		Sync(context.Context) error
		Stats() poller.Stats
	}
	protocols := []struct {
		name string
		make func(store.Replica) follower
	}{
		{"atom", func(r store.Replica) follower { return newPoller(b, e.url("orders"), r, poller.Config{}) }},
		{"http-feeds", func(r store.Replica) follower { return newHTTPFeed(b, e.url("orders")+"/events", r, poller.Config{}) }},
	}
	for _, pr := range protocols {
		// Warm the page cache for this protocol's documents.
		if err := pr.make(discardReplica{}).Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	for _, replica := range []string{"discard", "sqlite"} {
		b.Run(replica, func(b *testing.B) {
			open := func(int) store.Replica { return discardReplica{} }
			if replica == "sqlite" {
				open = openSQLite(b)
			}
			var elapsed, cpu [2]time.Duration
			for i := range b.N {
				for j := range 2 {
					k := j ^ i%2
					b.StopTimer()
					r := open(2*i + j)
					f := protocols[k].make(r)
					b.StartTimer()
					start, cpu0 := time.Now(), cpuTime(b)
					if err := f.Sync(context.Background()); err != nil {
						b.Fatal(err)
					}
					cpu[k] += cpuTime(b) - cpu0
					elapsed[k] += time.Since(start)
					b.StopTimer()
					if st := f.Stats(); st.Events != n {
						b.Fatalf("%s: applied %d events, want %d", protocols[k].name, st.Events, n)
					}
					if c, ok := r.(interface{ Close() error }); ok {
						c.Close()
					}
					b.StartTimer()
				}
			}
			var rate [2]float64
			for k, pr := range protocols {
				rate[k] = float64(n*b.N) / elapsed[k].Seconds()
				b.ReportMetric(rate[k], pr.name+"-events/s")
				b.ReportMetric(float64(cpu[k].Nanoseconds())/float64(n*b.N), pr.name+"-cpu-ns/event")
			}
			b.ReportMetric(rate[1]/rate[0], "http-feeds/atom")
		})
	}
}

// A body cut off (the server died mid-write) is retried, not taken for
// an invalid feed.
func TestHTTPFeedTruncated(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	full := `[{"specversion":"1.0","id":"a","type":"t","source":"/s","data":{"n":1}}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", publisher.MediaTypeCloudEventsBatch)
		switch {
		case r.URL.Query().Get("lastEventId") != "":
			w.Write([]byte("[]"))
		case n == 1:
			w.Write([]byte(full[:40]))
		default:
			w.Write([]byte(full))
		}
	}))
	defer srv.Close()
	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.Prefetch = -1
	f := newHTTPFeed(t, srv.URL+"/x", r, cfg)
	if err := syncFeed(t, f); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := ids(r.Applied()); len(got) != 1 || got[0] != "a" || f.Stats().Retries != 1 {
		t.Errorf("applied %v after %d retries, want [a] after 1", got, f.Stats().Retries)
	}
}

// TestGaveUp checks that both followers stop retrying a source that keeps
// failing once Config.MaxRetryTime has passed, with ErrGaveUp wrapping the
// last failure, having retried meanwhile.
func TestGaveUp(t *testing.T) {
	var requests atomicCounter
	srv := httptest.NewServer(requests.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})))
	defer srv.Close()
	cfg := fastRetry()
	cfg.MaxRetryTime = 50 * time.Millisecond
	for name, sync := range map[string]func() error{
		"atom": func() error {
			return newPoller(t, srv.URL+"/feed", memory.NewReplica(nil), cfg).Sync(context.Background())
		},
		"http-feed": func() error {
			return newHTTPFeed(t, srv.URL+"/feed/events", memory.NewReplica(nil), cfg).Sync(context.Background())
		},
	} {
		before := requests.n.Load()
		err := sync()
		var he *poller.HTTPError
		if !errors.Is(err, poller.ErrGaveUp) || !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
			t.Errorf("%s: Sync = %v, want ErrGaveUp wrapping the 503", name, err)
		}
		if n := requests.n.Load() - before; n < 2 {
			t.Errorf("%s: %d requests, want retries before giving up", name, n)
		}
	}
}
