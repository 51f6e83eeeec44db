package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// The load generators speak HTTP/1.1 over plain net.Conns instead of using
// net/http's client: a request is a byte slice written as is, and a
// response is parsed just enough to find its end. This costs a fraction of
// what http.Client does per request, so that on a machine shared by the
// server and the load generator most of the CPU goes to the server, and it
// lets the fanout scenario hold thousands of connections cheaply.

// errMalformed reports a response the client cannot parse.
var errMalformed = errors.New("bench: malformed HTTP response")

// request returns an HTTP/1.1 request for path on host with the given
// header lines ("Name: value") and body.
func request(method, host, path string, body []byte, header ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for _, h := range header {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// response is what a rawConn reads of an HTTP response.
type response struct {
	status   int
	etag     string // ETag, when asked for
	location string // Location, when asked for
	n        int64  // body bytes
	body     []byte // the body, when asked for
	close    bool   // the server closes the connection after it
}

// rawConn is one keep-alive HTTP/1.1 connection.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(ctx context.Context, addr string, bufSize int) (*rawConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, r: bufio.NewReaderSize(c, bufSize)}, nil
}

// do writes req and reads the response into resp. With keep, the body is
// kept in resp.body, otherwise discarded; with headers, ETag and Location
// are kept.
func (c *rawConn) do(req []byte, resp *response, keep, headers bool) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	return c.read(resp, bytes.HasPrefix(req, []byte("HEAD ")), keep, headers)
}

// read reads one response into resp.
func (c *rawConn) read(resp *response, head, keep, headers bool) error {
	*resp = response{body: resp.body[:0]}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	resp.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	resp.close = line[7] == '0'
	length := int64(-1)
	chunked := false
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return fmt.Errorf("%w: header line %q", errMalformed, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			resp.close = bytes.EqualFold(value, []byte("close"))
		case headers && bytes.EqualFold(name, []byte("ETag")):
			resp.etag = string(value)
		case headers && bytes.EqualFold(name, []byte("Location")):
			resp.location = string(value)
		}
	}
	switch {
	case head || resp.status == 304 || resp.status == 204 || resp.status < 200:
		return nil
	case chunked:
		return c.readChunked(resp, keep)
	case length >= 0:
		return c.readBody(resp, length, keep)
	}
	// No length: the body runs to the end of the connection.
	resp.close = true
	var w io.Writer = io.Discard
	buf := bytes.NewBuffer(resp.body)
	if keep {
		w = buf
	}
	resp.n, err = io.Copy(w, c.r)
	resp.body = buf.Bytes()
	return err
}

func (c *rawConn) readBody(resp *response, n int64, keep bool) error {
	resp.n += n
	if !keep {
		_, err := c.r.Discard(int(n))
		return err
	}
	start := len(resp.body)
	resp.body = append(resp.body, make([]byte, n)...)
	_, err := io.ReadFull(c.r, resp.body[start:])
	return err
}

func (c *rawConn) readChunked(resp *response, keep bool) error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			break
		}
		if err := c.readBody(resp, n, keep); err != nil {
			return err
		}
		if _, err := c.r.Discard(2); err != nil {
			return err
		}
	}
	for { // trailers
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}

// get makes one request on a new connection to addr and returns the
// response with its body and headers.
func get(ctx context.Context, addr string, req []byte) (response, error) {
	c, err := dialRaw(ctx, addr, 64<<10)
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(time.Minute))
	}
	var resp response
	err = c.do(req, &resp, true, true)
	return resp, err
}
