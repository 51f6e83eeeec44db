package shipping_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/examples/internal/shipping"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// ordersFeed serves an orders feed from memory, standing in for the
// orders service: the test decides exactly what the feed holds.
type ordersFeed struct {
	log *memory.Log
	pub *publisher.Handler
	srv *httptest.Server
	url string // of the feed
}

func newOrdersFeed(t *testing.T) *ordersFeed {
	t.Helper()
	f := &ordersFeed{log: memory.NewLog(memory.Options{PageSize: 2})}
	f.start(t, "127.0.0.1:0")
	f.url = f.srv.URL + "/feeds/orders"
	t.Cleanup(func() { f.stop(); f.log.Close() })
	return f
}

// start serves the feed on addr.
func (f *ordersFeed) start(t *testing.T, addr string) {
	t.Helper()
	pub, err := publisher.New(f.log, publisher.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f.pub = pub
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", f.pub))
	f.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	f.srv.Start()
}

// stop takes the feed off line, long polls included.
func (f *ordersFeed) stop() {
	f.pub.Close()
	f.srv.Close()
}

func (f *ordersFeed) append(t *testing.T, typ, subject, data string) {
	t.Helper()
	ev := eventfeed.Event{Feed: "orders", ID: "urn:test:" + typ + ":" + subject, Type: typ, Subject: subject, Data: []byte(data)}
	if _, err := f.log.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// open opens a shipping service following url, with its replica at path,
// and an HTTP server over it.
func open(t *testing.T, path, url string, applied func([]eventfeed.Event)) (*shipping.Service, *httptest.Server) {
	t.Helper()
	svc, err := shipping.Open(context.Background(), path, shipping.Config{
		Orders:  url,
		Backoff: poller.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond},
		Applied: applied,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(func() { srv.Close(); svc.Close() })
	return svc, srv
}

func get(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	} else if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("GET %s: got %d with Content-Type %q, want application/problem+json", url, resp.StatusCode, ct)
	}
	return resp.StatusCode
}

func TestProjection(t *testing.T) {
	ctx := context.Background()
	feed := newOrdersFeed(t)
	feed.append(t, "order.placed", "order-1", `{"order_id":1,"customer":"Ada","address":"1 Loop Road","items":[{"sku":"book-42","quantity":2}]}`)
	feed.append(t, "order.placed", "order-2", `{"order_id":2,"address":"2 Loop Road","items":[{"sku":"pen","quantity":1}]}`)
	feed.append(t, "order.cancelled", "order-2", `{"order_id":2}`)
	feed.append(t, "order.paid", "order-1", `{"order_id":1}`)   // not shipping's business: skipped
	feed.append(t, "order.placed", "order-3", `"not an order"`) // JSON, but not an order: parked, and the rest goes on
	feed.append(t, "order.placed", "order-4", `{"order_id":4,"address":"4 Loop Road","items":[]}`)

	path := filepath.Join(t.TempDir(), "shipping.db")
	svc, srv := open(t, path, feed.url, nil)
	if err := svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		path    string
		want    int
		status  string
		address string
	}{
		{"/shipments/1", 200, shipping.StatusPending, "1 Loop Road"},
		{"/shipments/2", 200, shipping.StatusCancelled, "2 Loop Road"},
		{"/shipments/3", 404, "", ""},
		{"/shipments/4", 200, shipping.StatusPending, "4 Loop Road"},
		{"/shipments/99", 404, "", ""},
		{"/shipments/abc", 404, "", ""},
	} {
		var sh shipping.Shipment
		code := get(t, srv.URL+tc.path, &sh)
		if code != tc.want || sh.Status != tc.status || sh.Address != tc.address {
			t.Errorf("GET %s: got %d %s %q, want %d %s %q", tc.path, code, sh.Status, sh.Address, tc.want, tc.status, tc.address)
		}
	}
	var sh shipping.Shipment
	get(t, srv.URL+"/shipments/1", &sh)
	if len(sh.Items) != 1 || sh.Items[0] != (shipping.Item{SKU: "book-42", Quantity: 2}) {
		t.Errorf("shipment 1 items: got %+v, want 2 × book-42", sh.Items)
	}

	var st shipping.Status
	get(t, srv.URL+"/status", &st)
	if st.Seq != 6 || st.Applied != 5 || st.Parked != 1 || !st.CaughtUp || st.Source != feed.url {
		t.Errorf("status: got %+v, want seq 6, 5 applied, 1 parked, caught up, source %s", st, feed.url)
	}

	// Reopened, the replica resumes from its checkpoint: only the new
	// event is applied.
	srv.Close()
	svc.Close()
	feed.append(t, "order.cancelled", "order-1", `{"order_id":1}`)
	svc, srv = open(t, path, feed.url, nil)
	if err := svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	get(t, srv.URL+"/status", &st)
	if st.Seq != 7 || st.Applied != 1 {
		t.Errorf("status after reopening: got seq %d, %d applied; want seq 7, 1 applied", st.Seq, st.Applied)
	}
	if got, err := svc.Shipment(ctx, 1); err != nil || got.Status != shipping.StatusCancelled {
		t.Errorf("shipment 1 after reopening: got %s, %v; want cancelled", got.Status, err)
	}
	if _, err := svc.Shipment(ctx, 3); !errors.Is(err, shipping.ErrNotFound) {
		t.Errorf("shipment 3: got %v, want ErrNotFound", err)
	}
}

// TestOrdersDown runs shipping against a feed that goes away and comes
// back: shipping keeps answering meanwhile, then catches up.
func TestOrdersDown(t *testing.T) {
	feed := newOrdersFeed(t)
	feed.append(t, "order.placed", "order-1", `{"order_id":1,"address":"1 Loop Road","items":[{"sku":"book-42","quantity":1}]}`)

	applied := make(chan eventfeed.Event, 10)
	svc, srv := open(t, filepath.Join(t.TempDir(), "shipping.db"), feed.url, func(evs []eventfeed.Event) {
		for _, ev := range evs {
			applied <- ev
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	next := func() eventfeed.Event {
		t.Helper()
		select {
		case ev := <-applied:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatal("shipping applied nothing in 30s")
			return eventfeed.Event{}
		}
	}
	if ev := next(); ev.Subject != "order-1" {
		t.Fatalf("applied %s %s, want order-1", ev.Type, ev.Subject)
	}

	addr := feed.srv.Listener.Addr().String()
	feed.stop()
	var sh shipping.Shipment
	if code := get(t, srv.URL+"/shipments/1", &sh); code != 200 || sh.Status != shipping.StatusPending {
		t.Errorf("with orders down: got %d %s, want 200 pending", code, sh.Status)
	}

	// An order placed while shipping could not read the feed arrives once
	// the feed is back.
	feed.append(t, "order.placed", "order-2", `{"order_id":2,"address":"2 Loop Road","items":[{"sku":"pen","quantity":1}]}`)
	feed.start(t, addr)
	if ev := next(); ev.Subject != "order-2" {
		t.Fatalf("applied %s %s, want order-2", ev.Type, ev.Subject)
	}
	var st shipping.Status
	get(t, srv.URL+"/status", &st)
	if st.Seq != 2 {
		t.Errorf("status: got seq %d, want 2", st.Seq)
	}
	if !strings.HasPrefix(st.Source, "http://"+addr) {
		t.Errorf("status: got source %s, want the feed on %s", st.Source, addr)
	}
}

// TestBeforeFirstOrder runs shipping against a feed with no events yet,
// which its publisher answers with 404: a normal state, logged once at
// INFO, never as a warning nor counted as an error; the first order is
// applied when it comes.
func TestBeforeFirstOrder(t *testing.T) {
	feed := newOrdersFeed(t)
	var logged lockedBuffer
	applied := make(chan eventfeed.Event, 10)
	// Count the answers of the empty feed, to let several pass.
	misses := make(chan struct{}, 100)
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && resp.StatusCode == http.StatusNotFound {
			select {
			case misses <- struct{}{}:
			default:
			}
		}
		return resp, err
	})}
	svc, err := shipping.Open(context.Background(), filepath.Join(t.TempDir(), "shipping.db"), shipping.Config{
		Orders:  feed.url,
		Client:  client,
		Backoff: poller.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond},
		Applied: func(evs []eventfeed.Event) {
			for _, ev := range evs {
				applied <- ev
			}
		},
		Logger: slog.New(slog.NewTextHandler(&logged, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(func() { srv.Close(); svc.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for range 3 {
		select {
		case <-misses:
		case <-time.After(30 * time.Second):
			t.Fatal("shipping did not look at the empty feed in 30s")
		}
	}
	var st shipping.Status
	get(t, srv.URL+"/status", &st)
	if st.Errors != 0 || st.LastError != "" {
		t.Errorf("status before the first order: %d errors, last %q; want none", st.Errors, st.LastError)
	}
	feed.append(t, "order.placed", "order-1", `{"order_id":1,"address":"1 Loop Road","items":[]}`)
	select {
	case ev := <-applied:
		if ev.Subject != "order-1" {
			t.Errorf("applied %s, want order-1", ev.Subject)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shipping did not apply the first order in 30s")
	}
	log := logged.String()
	if n := strings.Count(log, "level=INFO"); n != 1 || !strings.Contains(log, "no events yet") || strings.Contains(log, "level=WARN") || strings.Contains(log, "level=ERROR") {
		t.Errorf("log before the first order: want one INFO line saying the feed has no events yet, nothing worse; got\n%s", log)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestIndex(t *testing.T) {
	feed := newOrdersFeed(t)
	_, srv := open(t, filepath.Join(t.TempDir(), "shipping.db"), feed.url, nil)
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{feed.url, "GET /shipments/{orderID}", "GET /status", "curl -i " + srv.URL + "/shipments/1"} {
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET /: %d, lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
}

func TestOpenRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "orders", "ftp://example.com/feeds/orders", "http:///feeds/orders"} {
		if _, err := shipping.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), shipping.Config{Orders: u}); err == nil {
			t.Errorf("Open with orders URL %q: got no error", u)
		}
	}
}
