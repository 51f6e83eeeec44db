package bench

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// wire counts the bytes that cross the connections it dials: what a
// client reads and writes on the wire, headers included (TCP/IP framing
// excluded).
type wire struct {
	read, written atomic.Int64
}

func (w *wire) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, w: w}, nil
}

// client returns an HTTP client whose connections w counts, configured as
// the poller configures its own (keep-alive, a few idle connections).
func (w *wire) client(idle int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           w.dial,
		ResponseHeaderTimeout: 2 * time.Minute,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   idle,
	}}
}

type countingConn struct {
	net.Conn
	w *wire
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.w.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.w.written.Add(int64(n))
	return n, err
}
