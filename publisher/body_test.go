package publisher_test

import (
	"bufio"
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

	"github.com/eventfeed/eventfeed/publisher"
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
