package publisher_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
)

// TestSlowBodies holds 1,000 POSTs whose bodies drip one byte at a time,
// half of them with credentials the Handler refuses: every one is answered
// (408 for the bodies cut off at Config.BodyTimeout, 401 at once for the
// others, without reading their bodies) and its connection closed, and
// the heap is back where it was once they are.
func TestSlowBodies(t *testing.T) {
	const (
		n       = 1000
		timeout = 500 * time.Millisecond
		// Far above the timeout: what it catches is a connection held for
		// as long as its client drips.
		bound = 15 * time.Second
	)
	e := newEnv(t, 3, publisher.Config{
		BodyTimeout: timeout,
		Authorize: func(r *http.Request, _ string) error {
			if r.Header.Get("Authorization") != "Bearer ok" {
				return publisher.ErrUnauthorized
			}
			return nil
		},
	})
	e.add("orders", 0, 1)
	addr := strings.TrimPrefix(e.srv.URL, "http://")

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	type result struct {
		status  string
		elapsed time.Duration
		closed  bool
		err     error
	}
	results := make([]result, n)
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		conns[i] = c
		token := "ok"
		if i%2 == 1 {
			token = "wrong"
		}
		start := time.Now()
		if _, err := fmt.Fprintf(c, "POST /feeds/orders HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nEvent-Type: order.placed\r\nContent-Length: 100000\r\n\r\n{", token); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			c.SetReadDeadline(start.Add(2 * bound))
			br := bufio.NewReader(c)
			res.status, res.err = br.ReadString('\n')
			res.elapsed = time.Since(start)
			if res.err == nil {
				// The rest of the answer, then the end of the connection.
				// A reset counts: the drip may write after the close.
				_, res.err = io.Copy(io.Discard, br)
				res.closed = res.err == nil || errors.Is(res.err, syscall.ECONNRESET)
			}
		}()
	}
	// The drip: a byte to every connection every 100 ms, until all are
	// answered or twice the bound has passed.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	stop := time.After(2 * bound)
drip:
	for {
		select {
		case <-done:
			break drip
		case <-stop:
			break drip
		case <-tick.C:
			for _, c := range conns {
				c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				c.Write([]byte(" "))
			}
		}
	}
	<-done

	counts := map[string]int{}
	for i, res := range results {
		want := "HTTP/1.1 408 "
		if i%2 == 1 {
			want = "HTTP/1.1 401 "
		}
		if !strings.HasPrefix(res.status, want) || res.elapsed > bound || !res.closed {
			counts[fmt.Sprintf("%q after %s (closed %t), want %q within %s and closed",
				strings.TrimSpace(res.status), res.elapsed.Round(time.Second), res.closed, want, bound)]++
		}
	}
	for what, k := range counts {
		t.Errorf("%d connections: %s", k, what)
	}
	if got := e.h.Stats().BodiesCutOff; got != n/2 {
		t.Errorf("Stats().BodiesCutOff = %d, want %d", got, n/2)
	}
	if !strings.Contains(e.logs.String(), "request body cut off") {
		t.Errorf("no log of a body cut off")
	}

	for _, c := range conns {
		c.Close()
	}
	e.tr.CloseIdleConnections()
	var after runtime.MemStats
	waitFor(t, "the heap to come back", func() bool {
		runtime.GC()
		runtime.ReadMemStats(&after)
		return after.HeapAlloc < before.HeapAlloc+8<<20
	})
}

// TestBodyTimeoutSparesLongPolls checks that the body deadline bounds
// bodies only: appends (an Atom entry, a raw body) and then a long poll
// on the same connections, each longer than the deadline, are answered in
// full.
func TestBodyTimeoutSparesLongPolls(t *testing.T) {
	const timeout = 100 * time.Millisecond
	slow := &slowLog{delay: 3 * timeout}
	e := newEnv(t, 3, publisher.Config{BodyTimeout: timeout, Authorize: allowAll})
	slow.Log = e.log
	h, err := publisher.New(slow, publisher.Config{BodyTimeout: timeout, Authorize: allowAll})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	e.mount(h, "/feeds")
	entry := `<entry xmlns="http://www.w3.org/2005/Atom"><id>urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66</id><title>t</title>` +
		`<updated>2026-11-26T12:00:00Z</updated><category term="t"/><content type="application/json">{"a":1}</content></entry>`
	for _, r := range []response{
		e.do("POST", e.url("orders"), strings.NewReader(entry), "Content-Type: application/atom+xml;type=entry"),
		e.do("POST", e.url("orders"), strings.NewReader("{}"), "Content-Type: application/json", "Event-Type: t"),
	} {
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("append slower than the body deadline: status %d: %s", r.StatusCode, r.body)
		}
	}
	etag := e.mustGet(e.url("orders")).Header.Get("ETag")
	r := <-e.poll(t.Context(), e.url("orders"), etag, "wait=1")
	if r.Response == nil || r.StatusCode != http.StatusNotModified || r.Header.Get("Preference-Applied") != "wait=1" {
		t.Errorf("long poll of 1 s with a body deadline of %s: %v, want 304 after waiting", timeout, r.Response)
	}
	if got := h.Stats().BodiesCutOff; got != 0 {
		t.Errorf("Stats().BodiesCutOff = %d, want 0", got)
	}
}

// slowLog is a store.Log whose appends take delay.
type slowLog struct {
	store.Log
	delay time.Duration
}

func (l *slowLog) Append(ctx context.Context, events ...eventfeed.Event) ([]eventfeed.Event, error) {
	select {
	case <-time.After(l.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return l.Log.Append(ctx, events...)
}
