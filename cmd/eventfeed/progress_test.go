package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// gatedFeed serves a feed of 31 events in pages of 3, and holds every
// request for page 4 until release is closed: a catch-up that lasts until
// the test has seen what it waits for.
type gatedFeed struct {
	log     *memory.Log
	srv     *httptest.Server
	release chan struct{}
	n       int
}

func newGatedFeed(t *testing.T) *gatedFeed {
	t.Helper()
	f := &gatedFeed{log: memory.NewLog(memory.Options{PageSize: 3}), release: make(chan struct{})}
	h, err := publisher.New(f.log, publisher.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/pages/4") {
			select {
			case <-f.release:
			case <-r.Context().Done():
				return
			}
		}
		h.ServeHTTP(w, r)
	})))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.open()
		f.srv.Close()
		h.Close()
	})
	// 31, so that the subscription document (the working page) shows
	// the head: a poller knows how far behind it is from the start.
	f.add(t, 31)
	return f
}

func (f *gatedFeed) url() string { return f.srv.URL + "/feeds/orders" }

// open lets page 4 through.
func (f *gatedFeed) open() {
	select {
	case <-f.release:
	default:
		close(f.release)
	}
}

func (f *gatedFeed) add(t *testing.T, n int) {
	t.Helper()
	for range n {
		f.n++
		ev := eventfeed.Event{Feed: "orders", ID: fmt.Sprintf("urn:o:%d", f.n), Type: "t", Data: []byte(`{}`)}
		if _, err := f.log.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// watchedBuffer is a buffer whose readers can wait for what they expect
// to be written.
type watchedBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newWatchedBuffer() *watchedBuffer { return &watchedBuffer{changed: make(chan struct{}, 1)} }

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.b.Write(p)
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor waits until the buffer holds n occurrences of s, failing t
// after 30 seconds.
func (w *watchedBuffer) waitFor(t *testing.T, s string, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for strings.Count(w.String(), s) < n {
		select {
		case <-w.changed:
		case <-timeout:
			t.Fatalf("waited 30 s for %d × %q; got:\n%q", n, s, w.String())
		}
	}
}

// TestTailProgressTerminal runs tail with its stderr on a pseudo-terminal:
// a progress line while it catches up, then the summary line in its place.
func TestTailProgressTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	f := newGatedFeed(t)
	term := newWatchedBuffer()
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.Write(buf[:n])
			if err != nil {
				return // EIO once tty is closed
			}
		}
	}()
	stdout := newWatchedBuffer()
	done := make(chan error, 1)
	go func() { done <- runTail(context.Background(), []string{f.url()}, stdout, tty) }()

	// Page 4 is held: the progress line shows the first pages applied and
	// how far behind the head they are.
	term.waitFor(t, " behind the head", 1)
	f.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	term.waitFor(t, "caught up at seq 31: 31 new events in ", 1)
	tty.Close()
	<-read

	out := term.String()
	progress := out[:strings.Index(out, "caught up")]
	if !strings.Contains(progress, "\r") || !strings.Contains(progress, "events/s, ") || !strings.Contains(progress, " pages, ") {
		t.Errorf("the terminal shows no progress line rewritten in place (\\r … events/s, … pages, … behind the head) before the summary:\n%q", out)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 31 {
		t.Errorf("stdout has %d lines, want 31", n)
	}
}

// TestTailSummary runs tail with stderr not a terminal: no progress line,
// one summary line at the end, none with -q; with -follow, one when it
// first catches up, and none after.
func TestTailSummary(t *testing.T) {
	f := newGatedFeed(t)
	f.open()
	t.Run("once", func(t *testing.T) {
		stderr := newWatchedBuffer()
		if err := runTail(context.Background(), []string{f.url()}, newWatchedBuffer(), stderr); err != nil {
			t.Fatal(err)
		}
		got := stderr.String()
		if !strings.HasPrefix(got, "caught up at seq 31: 31 new events in ") || strings.Count(got, "\n") != 1 || strings.Contains(got, "\r") {
			t.Errorf("stderr %q, want the one summary line", got)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		stderr := newWatchedBuffer()
		if err := runTail(context.Background(), []string{"-q", f.url()}, newWatchedBuffer(), stderr); err != nil {
			t.Fatal(err)
		}
		if got := stderr.String(); got != "" {
			t.Errorf("stderr with -q: %q, want nothing", got)
		}
	})
	t.Run("follow", func(t *testing.T) {
		stdout, stderr := newWatchedBuffer(), newWatchedBuffer()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runTail(ctx, []string{"-follow", f.url()}, stdout, stderr) }()
		stderr.waitFor(t, "caught up at seq 31: 31 new events in ", 1)
		f.add(t, 2)
		stdout.waitFor(t, "\n", 33)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := stderr.String(); strings.Count(got, "caught up") != 1 || strings.Count(got, "\n") != 1 {
			t.Errorf("stderr with -follow: %q, want one summary line, at the first catch-up", got)
		}
	})
}
