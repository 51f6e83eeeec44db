package publisher_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// countingLog is a store.Log that counts the calls reaching it and can
// pretend the feeds were reset (given a new epoch).
type countingLog struct {
	store.Log
	reads, feeds, waits atomic.Int64
	epochSuffix         atomic.Pointer[string]
}

func (c *countingLog) Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error) {
	c.reads.Add(1)
	return c.Log.Read(ctx, feed, from, to)
}

func (c *countingLog) Feed(ctx context.Context, name string) (store.Feed, error) {
	c.feeds.Add(1)
	f, err := c.Log.Feed(ctx, name)
	return c.reset(f), err
}

func (c *countingLog) Feeds(ctx context.Context) ([]store.Feed, error) {
	fs, err := c.Log.Feeds(ctx)
	for i := range fs {
		fs[i] = c.reset(fs[i])
	}
	return fs, err
}

func (c *countingLog) Wait(ctx context.Context, feed string, after uint64) (store.Feed, error) {
	c.waits.Add(1)
	f, err := c.Log.Wait(ctx, feed, after)
	return c.reset(f), err
}

func (c *countingLog) reset(f store.Feed) store.Feed {
	if s := c.epochSuffix.Load(); s != nil && f.Epoch != "" {
		f.Epoch += *s
	}
	return f
}

// env is a publisher mounted under /feeds/ of a test server.
type env struct {
	t    *testing.T
	mem  *memory.Log
	log  *countingLog
	h    *publisher.Handler
	srv  *httptest.Server
	tr   *http.Transport // asks no compression unless a test does
	base string          // the server's URL of the mount point, with a trailing slash
	logs *logBuffer

	handler swapHandler
}

// swapHandler serves with the handler last stored.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// mount makes the server serve h under prefix ("" for the root).
func (e *env) mount(h http.Handler, prefix string) {
	var root http.Handler = h
	if prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
		root = mux
	}
	e.handler.h.Store(&root)
	e.base = e.srv.URL + prefix + "/"
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newEnv starts a publisher over a memory log with pages of pageSize.
func newEnv(t *testing.T, pageSize int, cfg publisher.Config) *env {
	t.Helper()
	e := &env{t: t, mem: memory.NewLog(memory.Options{PageSize: pageSize}), logs: new(logBuffer)}
	e.log = &countingLog{Log: e.mem}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	h, err := publisher.New(e.log, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.h = h
	e.srv = httptest.NewServer(&e.handler)
	e.mount(h, "/feeds")
	e.tr = &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	t.Cleanup(func() {
		e.tr.CloseIdleConnections()
		h.Close()
		e.srv.Close()
		e.mem.Close()
	})
	return e
}

// testEvent is event i of feed name: JSON data, a type and a subject.
func testEvent(name string, i int) eventfeed.Event {
	return eventfeed.Event{
		Feed:    name,
		ID:      fmt.Sprintf("tag:example.com,2026:%s/%d", name, i),
		Type:    "order.placed",
		Subject: fmt.Sprintf("order-%d", i),
		Time:    time.Date(2026, 11, 26, 12, 0, i%60, 0, time.UTC),
		Data:    []byte(fmt.Sprintf(`{"order":%d,"note":"a < b & c"}`, i)),
	}
}

// add appends events from+1 … to of feed name.
func (e *env) add(name string, from, to int) {
	e.t.Helper()
	evs := make([]eventfeed.Event, 0, to-from)
	for i := from + 1; i <= to; i++ {
		evs = append(evs, testEvent(name, i))
	}
	if _, err := e.mem.Append(context.Background(), evs...); err != nil {
		e.t.Fatalf("Append: %v", err)
	}
}

func (e *env) feed(name string) store.Feed {
	e.t.Helper()
	f, err := e.log.Feed(context.Background(), name)
	if err != nil {
		e.t.Fatalf("Feed(%q): %v", name, err)
	}
	return f
}

// url returns the absolute URL of path under the mount point.
func (e *env) url(path string) string { return e.base + strings.TrimPrefix(path, "/") }

// pageURL returns the URL of page k of feed name in its current epoch.
func (e *env) pageURL(name string, k int) string {
	return e.url(fmt.Sprintf("%s/%s/pages/%d", name, e.feed(name).Epoch, k))
}

func (e *env) entryURL(name string, seq int) string {
	return e.url(fmt.Sprintf("%s/%s/entries/%d", name, e.feed(name).Epoch, seq))
}

type response struct {
	*http.Response
	body []byte
}

// do sends a request with headers given as "Name: value" strings. The
// transport does not add Accept-Encoding, so what is asked is what the
// test says.
func (e *env) do(method, target string, body io.Reader, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(name, strings.TrimSpace(value))
	}
	return e.send(req)
}

func (e *env) send(req *http.Request) response {
	e.t.Helper()
	resp, err := e.tr.RoundTrip(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{resp, b}
}

func (e *env) get(target string, headers ...string) response {
	e.t.Helper()
	return e.do(http.MethodGet, target, nil, headers...)
}

// mustGet gets target and fails unless the status is 200.
func (e *env) mustGet(target string, headers ...string) response {
	e.t.Helper()
	r := e.get(target, headers...)
	if r.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: status %d, want 200; body %s", target, r.StatusCode, r.body)
	}
	return r
}

// problemDoc is an RFC 9457 problem document as the publisher writes it.
type problemDoc struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Status  int    `json:"status"`
	Detail  string `json:"detail"`
	Current string `json:"current"`
}

// checkProblem fails unless r is a problem document of status whose detail
// holds detail.
func checkProblem(t *testing.T, what string, r response, status int, detail string) problemDoc {
	t.Helper()
	var p problemDoc
	if r.StatusCode != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	if r.Request.Method == http.MethodHead {
		return p
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s: problem document %q: %v", what, r.body, err)
		return p
	}
	if p.Status != status || p.Title != http.StatusText(status) && p.Type == "" {
		t.Errorf("%s: problem status %d title %q, want %d %q", what, p.Status, p.Title, status, http.StatusText(status))
	}
	if !strings.Contains(p.Detail, detail) {
		t.Errorf("%s: problem detail %q, want it to contain %q", what, p.Detail, detail)
	}
	return p
}

// gunzip returns the decompressed b.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	return out
}

// resolve resolves href against the URL a document was fetched from.
func resolve(t *testing.T, docURL, href string) string {
	t.Helper()
	base, err := url.Parse(docURL)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := url.Parse(href)
	if err != nil {
		t.Fatalf("href %q: %v", href, err)
	}
	return base.ResolveReference(ref).String()
}

// waitFor polls cond until it holds or a generous deadline passes: used to
// know that long polls are waiting, never to judge speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
