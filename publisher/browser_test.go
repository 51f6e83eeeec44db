package publisher_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

var updateScreenshots = flag.Bool("update", false, "rewrite the screenshots of the HTML views in ../doc")

// Environment of the child process of TestBrowserLive, which appends one
// event to a SQLite log, as another process of a service would.
const (
	appendChildVar = "EVENTFEED_PUBLISHER_APPEND_CHILD"
	appendDBVar    = "EVENTFEED_PUBLISHER_APPEND_DB"
)

func TestMain(m *testing.M) {
	if os.Getenv(appendChildVar) != "" {
		os.Exit(appendChild())
	}
	code := m.Run()
	if chrome.cancel != nil {
		chrome.cancel()
	}
	os.Exit(code)
}

func appendChild() int {
	ctx := context.Background()
	log, err := sqlite.Open(ctx, os.Getenv(appendDBVar), sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer log.Close()
	ev := eventfeed.Event{Feed: "orders", ID: "urn:test:from-another-process", Type: "order.shipped", Subject: "order-from-child", Data: []byte(`{"by":"another process"}`)}
	if _, err := log.Append(ctx, ev); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// chrome is the one headless Chromium the browser tests share, each in a
// tab of its own; TestMain stops it.
var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// browser returns a context to drive a new tab of headless Chromium with
// chromedp, closed with t; it starts Chromium on first use.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testenv.Command(t, "chromium")
	chrome.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.NoSandbox, // CI runs as root
			chromedp.Headless,
			chromedp.DisableGPU,
			chromedp.WindowSize(1100, 800),
			chromedp.Env("TZ=UTC"),
		)
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(actx)
		chrome.ctx, chrome.cancel = ctx, func() { cancel(); cancelAlloc() }
		// The first action starts the browser, which lives as long as
		// ctx: only later actions may have timeouts of their own.
		chrome.err = chromedp.Do(ctx)
	})
	if chrome.err != nil {
		t.Fatalf("start chromium: %v", chrome.err)
	}
	ctx, cancel := chromedp.NewContext(chrome.ctx)
	t.Cleanup(cancel)
	// Opens the tab, which like the browser lives as long as the context
	// of its first action.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// browserStep bounds each step of a browser test, so that a view that
// never shows what a test waits for fails the test instead of hanging it.
const browserStep = 30 * time.Second

// do runs steps in the browser of ctx, failing t on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// run runs a in the browser of ctx and returns its value, failing t on an
// error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// liveStatus is true once a head view's long poll is established.
const liveStatus = `document.getElementById("status").textContent === "live"`

// browserEvents are events of every payload kind.
func browserEvents() []eventfeed.Event {
	at := func(i int) time.Time { return time.Date(2026, 12, 1, 9, 30, i, 123e6, time.UTC) }
	return []eventfeed.Event{
		{Feed: "orders", ID: "urn:test:1", Type: "order.placed", Subject: "order-1", Time: at(1), Data: []byte(`{"order":1,"items":[{"sku":"a","qty":2}],"paid":true,"note":null}`)},
		{Feed: "orders", ID: "urn:test:2", Type: "order.placed", Subject: "order-2", Time: at(2), Data: []byte(`{"order":2,"items":[],"paid":false}`)},
		{Feed: "orders", ID: "urn:test:3", Type: "order.invoiced", Subject: "order-1", Time: at(3), ContentType: "application/xml", Data: []byte(`<invoice xmlns="urn:x"><order>1</order><total currency="EUR">44.80</total></invoice>`)},
		{Feed: "orders", ID: "urn:test:4", Type: "order.note", Subject: "order-2", Time: at(4), ContentType: "text/plain", Data: []byte("Leave it at the door.\nThanks!")},
		{Feed: "orders", ID: "urn:test:5", Type: "order.label", Subject: "order-1", Time: at(5), ContentType: "application/pdf", Data: []byte("%PDF-1.7\n\x00\x01\x02\xff binary label")},
		{Feed: "orders", ID: "urn:test:6", Type: "order.cancelled", Subject: "order-2", Time: at(6), Data: []byte(`{"order":2,"reason":"customer asked"}`)},
		{Feed: "orders", ID: "urn:test:7", Type: "order.shipped", Subject: "order-1", Time: at(7), Data: []byte(`{"order":1,"carrier":"DHL"}`)},
	}
}

// TestBrowserNavigate loads the views in Chromium as a person would: the
// index, a feed's newest events, back through its pages, one event; and
// checks what is rendered, the script's work included (local times, JSON
// highlighting, filters, keyboard paging).
func TestBrowserNavigate(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Browse: true})
	if _, err := e.mem.Append(context.Background(), browserEvents()...); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(e.url("~/")))
	if text := run(t, ctx, chromedp.Text("table")); !strings.Contains(text, "orders") || !strings.Contains(text, "7") {
		t.Errorf("index shows %q, want the feed orders at head 7", text)
	}
	do(t, ctx, chromedp.Click(`a[href$="~/orders"]`), chromedp.WaitVisible(`tr[data-seq="7"]`))
	if h1 := run(t, ctx, chromedp.Text("h1")); h1 != "orders: newest events" {
		t.Errorf("feed view heading %q", h1)
	}
	// The working page holds event 7; page 2 events 4 to 6.
	do(t, ctx, chromedp.Click(`nav a[rel="prev"]`), chromedp.WaitVisible(`tr[data-seq="4"]`))
	h1 := run(t, ctx, chromedp.Text("h1"))
	rows := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr[data-seq]").length`))
	if h1 != "orders: page 2" || rows != 3 {
		t.Errorf("after Older: heading %q with %d events, want page 2 with 3", h1, rows)
	}
	text := run(t, ctx, chromedp.TextContent("#events"))
	for _, want := range []string{"order.cancelled", "order.label", "order.note", "Leave it at the door.", "25 50 44 46 2d 31 2e 37"} {
		if !strings.Contains(text, want) {
			t.Errorf("page 2 does not show %q:\n%s", want, text)
		}
	}
	if title := run(t, ctx, chromedp.AttributeValue("time", "title")); title.Value != "2026-12-01 09:30:06.123 UTC" {
		t.Errorf("time's hover text %q, want the UTC time", title.Value)
	}
	// Filtering by type hides the other rows, client-side.
	do(t, ctx, chromedp.SendKeys(`#f-type`, "cancel"))
	if hidden := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr[data-seq][hidden]").length`)); hidden != 2 {
		t.Errorf("filtering page 2 by type %q hid %d rows, want 2", "cancel", hidden)
	}
	// Page 1 by the keyboard, then its first event.
	do(t, ctx, chromedp.Click("h1"), chromedp.KeyEvent(kb.ArrowLeft), chromedp.WaitVisible(`tr[data-seq="1"]`))
	do(t, ctx, chromedp.Click(`tr[data-seq="1"] th a`), chromedp.WaitVisible(`pre.json span`))
	if h1 := run(t, ctx, chromedp.Text("h1")); h1 != "orders: event 1" {
		t.Errorf("event view heading %q", h1)
	}
	if text := run(t, ctx, chromedp.TextContent("pre.payload")); !strings.Contains(text, "\"items\": [\n    {\n      \"sku\": \"a\",") {
		t.Errorf("event 1's payload is not pretty-printed JSON:\n%s", text)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("pre.json .j-k").length`)); n != 6 {
		t.Errorf("%d JSON keys highlighted, want 6", n)
	}
}

// TestBrowserLive opens a feed's head view and appends an event from
// another process: the view shows it without a reload, through the long
// poll; it says so when the publisher is unreachable, and recovers.
func TestBrowserLive(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "events.db")
	log, err := sqlite.Open(context.Background(), db, sqlite.Options{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	if _, err := log.Append(context.Background(), browserEvents()[:2]...); err != nil {
		t.Fatal(err)
	}
	h, err := publisher.New(log, publisher.Config{Browse: true, Prefix: "/feeds"})
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for a test", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(srv.URL+"/feeds/~/orders"), chromedp.WaitVisible(`tr[data-seq="2"]`), chromedp.Poll[chromedp.Void](liveStatus))

	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), appendChildVar+"=1", appendDBVar+"="+db)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("appending from another process: %v\n%s", err, out)
	}
	appended := time.Now()
	do(t, ctx, chromedp.WaitVisible(`tr[data-seq="3"]`))
	latency := time.Since(appended)
	t.Logf("the event appended by another process showed in the open view after %v", latency)
	if subject := run(t, ctx, chromedp.Text(`tr[data-seq="3"] .subject`)); subject != "order-from-child" {
		t.Errorf("new row's subject %q", subject)
	}
	if latency > 2*time.Second {
		t.Errorf("the new event took %v to show, want at most 2s", latency)
	}

	// Unreachable: the long poll in flight is cut and the retries fail.
	down.Store(true)
	srv.CloseClientConnections()
	do(t, ctx, chromedp.Poll[chromedp.Void](`document.getElementById("status").classList.contains("down")`))
	if status := run(t, ctx, chromedp.Text("#status")); !strings.Contains(status, "unreachable") {
		t.Errorf("status while down: %q", status)
	}
	down.Store(false)
	if _, err := log.Append(context.Background(), browserEvents()[2]); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.WaitVisible(`tr[data-seq="4"]`), chromedp.Poll[chromedp.Void](liveStatus))
}

// TestBrowserHostile loads every view of events full of markup in
// Chromium, with a trap that any script they smuggled in would spring:
// a global variable and a request to /pwned.
func TestBrowserHostile(t *testing.T) {
	e := newEnv(t, 10, publisher.Config{Browse: true})
	var pwned atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", e.h))
	mux.HandleFunc("/pwned", func(w http.ResponseWriter, r *http.Request) { pwned.Add(1) })
	e.mount(mux, "")
	e.base = e.srv.URL + "/feeds/"
	evs := hostileEvents("evil")
	if _, err := e.mem.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	f := e.feed("evil")
	views := []string{e.url("~/"), e.url("~/evil"), e.url(fmt.Sprintf("~/evil/%s/pages/1", f.Epoch))}
	for seq := range len(evs) {
		views = append(views, e.url(fmt.Sprintf("~/evil/%s/entries/%d", f.Epoch, seq+1)))
	}
	ctx := browser(t)
	for _, u := range views {
		// Every payload opened, so that whatever is in them is laid out,
		// and a round trip to the page after that.
		do(t, ctx, chromedp.Navigate(u), chromedp.WaitReady("#main"),
			chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("details").forEach(d => d.open = true)`))
		if trapped := run(t, ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined`)); trapped {
			t.Errorf("%s ran a script from event data", u)
		}
		if strings.HasSuffix(u, "/entries/1") {
			if text := run(t, ctx, chromedp.TextContent("pre.payload")); !strings.Contains(text, `<script>window.__pwned=1;`) {
				t.Errorf("%s does not show the payload's markup as text:\n%s", u, text)
			}
		}
	}
	if n := pwned.Load(); n != 0 {
		t.Errorf("/pwned was requested %d times by the views", n)
	}
}

// TestBrowserScreenshots takes the README's pictures of the three views;
// with -update it writes them to ../doc.
func TestBrowserScreenshots(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Browse: true})
	if _, err := e.mem.Append(context.Background(), browserEvents()...); err != nil {
		t.Fatal(err)
	}
	f := e.feed("orders")
	ctx := browser(t)
	shots := []struct{ file, url, ready string }{
		{"browse-index.png", e.url("~/"), "table"},
		{"browse-feed.png", e.url(fmt.Sprintf("~/orders/%s/pages/2", f.Epoch)), "tr[data-seq]"},
		{"browse-event.png", e.url(fmt.Sprintf("~/orders/%s/entries/1", f.Epoch)), "pre.json span"},
	}
	for _, s := range shots {
		do(t, ctx, chromedp.Navigate(s.url), chromedp.WaitVisible(s.ready),
			chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("details").forEach((d, i) => d.open = i < 2)`))
		png := run(t, ctx, chromedp.FullScreenshot(100))
		if len(png) < 1000 || string(png[1:4]) != "PNG" {
			t.Fatalf("%s: not a PNG screenshot (%d bytes)", s.file, len(png))
		}
		if *updateScreenshots {
			if err := os.WriteFile(filepath.Join("..", "doc", s.file), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
