package main

import (
	"bytes"
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
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// tailFeed is a publisher over a memory log, served at /feeds/.
type tailFeed struct {
	log *memory.Log
	srv *httptest.Server
	n   int
}

func newTailFeed(t *testing.T) *tailFeed {
	t.Helper()
	f := &tailFeed{log: memory.NewLog(memory.Options{PageSize: 3})}
	h, err := publisher.New(f.log, publisher.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		h.Close()
	})
	return f
}

func (f *tailFeed) url() string { return f.srv.URL + "/feeds/orders" }

// add appends n events, alternately JSON and plain text.
func (f *tailFeed) add(t *testing.T, n int) {
	t.Helper()
	for range n {
		f.n++
		ev := eventfeed.Event{Feed: "orders", ID: fmt.Sprintf("urn:o:%d", f.n), Type: "order.placed", Subject: fmt.Sprintf("order-%d", f.n)}
		if f.n%2 == 1 {
			ev.Data = []byte(fmt.Sprintf(`{"n": %d}`, f.n))
		} else {
			ev.ContentType = "text/plain"
			ev.Data = []byte(fmt.Sprintf("note %d", f.n))
		}
		if _, err := f.log.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// parseLines decodes tail's output, failing t on a line that is not one
// JSON object.
func parseLines(t *testing.T, out string) []map[string]json.RawMessage {
	t.Helper()
	var lines []map[string]json.RawMessage
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func str(t *testing.T, m map[string]json.RawMessage, key string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(m[key], &s); err != nil {
		t.Fatalf("%s = %s: %v", key, m[key], err)
	}
	return s
}

// tail runs runTail with args and returns its stdout.
func tail(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := runTail(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("tail %v: %v\nstderr: %s", args, err, stderr.String())
	}
	return stdout.String()
}

func TestTail(t *testing.T) {
	f := newTailFeed(t)
	f.add(t, 7)
	lines := parseLines(t, tail(t, f.url()))
	if len(lines) != 7 {
		t.Fatalf("printed %d lines, want 7", len(lines))
	}
	for i, l := range lines {
		n := i + 1
		if got, want := str(t, l, "id"), fmt.Sprintf("urn:o:%d", n); got != want {
			t.Errorf("line %d id = %s, want %s", i, got, want)
		}
		if got, want := string(l["seq"]), fmt.Sprint(n); got != want {
			t.Errorf("line %d seq = %s, want %s", i, got, want)
		}
		if got := str(t, l, "type"); got != "order.placed" {
			t.Errorf("line %d type = %s, want order.placed", i, got)
		}
		if got, want := str(t, l, "subject"), fmt.Sprintf("order-%d", n); got != want {
			t.Errorf("line %d subject = %s, want %s", i, got, want)
		}
		if _, err := time.Parse(time.RFC3339, str(t, l, "time")); err != nil {
			t.Errorf("line %d time: %v", i, err)
		}
		if n%2 == 1 {
			if got, want := string(l["data"]), fmt.Sprintf(`{"n":%d}`, n); got != want {
				t.Errorf("line %d data = %s, want the JSON value %s", i, got, want)
			}
			if got := str(t, l, "contentType"); got != "application/json" {
				t.Errorf("line %d contentType = %s, want application/json", i, got)
			}
		} else {
			if got, want := str(t, l, "data"), fmt.Sprintf("note %d", n); got != want {
				t.Errorf("line %d data = %q, want the string %q", i, got, want)
			}
			if got := str(t, l, "contentType"); got != "text/plain" {
				t.Errorf("line %d contentType = %s, want text/plain", i, got)
			}
		}
	}
}

// TestTailForeign tails a hand-written feed: newest first, no ef:seq, a
// prev-archive walk, text and Base64 content.
func TestTailForeign(t *testing.T) {
	const head = `<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>f</title><updated>2025-01-01T00:00:00Z</updated>`
	entry := func(id, minute, content string) string {
		return `<entry><id>` + id + `</id><title>t</title><updated>2025-01-01T00:` + minute + `:00Z</updated>` + content + `</entry>`
	}
	docs := map[string]string{
		"/blog/atom": head + `<link rel="prev-archive" href="old"/>` +
			entry("c", "03", `<content type="application/octet-stream">/wA=</content>`) +
			entry("b", "02", `<content>two &amp; more</content>`) + `</feed>`,
		"/blog/old": head + `<fh:archive xmlns:fh="http://purl.org/syndication/history/1.0"/>` +
			entry("a", "01", `<content type="application/json">{"x":[1,2]}</content>`) + `</feed>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/atom+xml")
		fmt.Fprint(w, docs[r.URL.Path])
	}))
	defer srv.Close()
	lines := parseLines(t, tail(t, srv.URL+"/blog/atom"))
	want := []struct{ id, data string }{{"a", `{"x":[1,2]}`}, {"b", `"two & more"`}, {"c", `"/wA="`}}
	if len(lines) != len(want) {
		t.Fatalf("printed %d lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		if got := str(t, lines[i], "id"); got != w.id {
			t.Errorf("line %d id = %s, want %s", i, got, w.id)
		}
		if got := string(lines[i]["data"]); got != w.data {
			t.Errorf("line %d data = %s, want %s", i, got, w.data)
		}
		if _, ok := lines[i]["seq"]; ok {
			t.Errorf("line %d has a seq (%s) for a feed without ef:seq", i, lines[i]["seq"])
		}
	}
}

// TestTailDB keeps the checkpoint in a replica file: each run prints only
// what came since the last.
func TestTailDB(t *testing.T) {
	f := newTailFeed(t)
	db := filepath.Join(t.TempDir(), "replica.db")
	for _, n := range []int{5, 3, 0, 4} {
		f.add(t, n)
		lines := parseLines(t, tail(t, "-db", db, f.url()))
		if len(lines) != n {
			t.Fatalf("printed %d lines after %d more events, want %d", len(lines), n, n)
		}
		for i, l := range lines {
			if got, want := str(t, l, "id"), fmt.Sprintf("urn:o:%d", f.n-n+i+1); got != want {
				t.Errorf("line %d id = %s, want %s", i, got, want)
			}
		}
	}
}

// TestTailFollow prints entries as they are appended, until interrupted.
func TestTailFollow(t *testing.T) {
	f := newTailFeed(t)
	f.add(t, 2)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runTail(ctx, []string{"-follow", f.url()}, &stdout, &stderr) }()
	for _, n := range []int{2, 3, 1} {
		want := f.n
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(stdout.String(), "\n") < want {
			if time.Now().After(deadline) {
				t.Fatalf("printed %d lines within 10s, want %d; stderr: %s", strings.Count(stdout.String(), "\n"), want, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		f.add(t, n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(stdout.String(), "\n") < f.n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail -follow: %v, want nil once interrupted", err)
	}
	lines := parseLines(t, stdout.String())
	if len(lines) != f.n {
		t.Fatalf("printed %d lines, want %d", len(lines), f.n)
	}
	for i, l := range lines {
		if got, want := str(t, l, "id"), fmt.Sprintf("urn:o:%d", i+1); got != want {
			t.Errorf("line %d id = %s, want %s", i, got, want)
		}
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestTailOutputError stops at a failed write and keeps the checkpoint
// before the batch that could not be printed.
func TestTailOutputError(t *testing.T) {
	f := newTailFeed(t)
	f.add(t, 4)
	db := filepath.Join(t.TempDir(), "replica.db")
	for _, args := range [][]string{{f.url()}, {"-db", db, f.url()}} {
		var stderr bytes.Buffer
		err := runTail(context.Background(), args, failWriter{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("tail %v to a failing writer: %v, want the write error", args, err)
		}
	}
	if lines := parseLines(t, tail(t, "-db", db, f.url())); len(lines) != 4 {
		t.Errorf("after a failed run, printed %d lines, want all 4", len(lines))
	}
}

func TestTailUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"not a url"}, {"-nosuchflag", "http://x/"}} {
		var stdout, stderr bytes.Buffer
		err := runTail(context.Background(), args, &stdout, &stderr)
		if !errors.As(err, new(usageError)) {
			t.Errorf("tail %q: %v, want a usage error", args, err)
		}
	}
}

// TestTailUnreachable runs tail without -follow against a host that
// refuses connections: it gives up after -retry with status 1, saying
// once that it retries and once why it stopped.
func TestTailUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/feeds/orders"
	srv.Close() // nothing listens there now
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"tail", "-retry", "400ms", url}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("tail of an unreachable host: exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	out := stderr.String()
	if n := strings.Count(out, "fetch failed; retrying"); n != 1 {
		t.Errorf("stderr says it retries %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "connection refused"); n != 2 {
		t.Errorf("stderr names the error %d times, want twice (the retry, then the final error):\n%s", n, out)
	}
	if !strings.Contains(out, "gave up retrying") {
		t.Errorf("stderr does not say it gave up:\n%s", out)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}
