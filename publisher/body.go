package publisher

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// boundedBody is the body of a request that has one: it is read under a
// deadline (Config.BodyTimeout) set on the connection for this request
// alone, through http.ResponseController, so that a body dripped byte by
// byte cannot hold a connection, while long polls (which have no body)
// keep theirs open as long as they wait.
type boundedBody struct {
	io.ReadCloser
	h    *Handler
	rc   *http.ResponseController
	eof  bool // read to its end
	cut  bool // its deadline passed
	done bool // deadline cleared or given up
}

// bound sets the body deadline of r, which has a body, and wraps its body
// to see whether it is read to the end.
func (h *Handler) bound(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(h.bodyTimeout)); err != nil {
		// Not a net/http connection (a test recorder, an HTTP/2 proxy
		// handler that cannot): nothing to bound here.
		return
	}
	r.Body = &boundedBody{ReadCloser: r.Body, h: h, rc: rc}
}

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF && !b.done:
		b.eof, b.done = true, true
		// The deadline is the body's: once the body is read to its end it
		// is lifted, so that nothing else read on this request's
		// connection (the server's watch for the client going away while
		// the store appends) runs into it.
		b.rc.SetReadDeadline(time.Time{})
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !b.cut:
		b.cut = true
		b.h.stats.bodiesCutOff.Add(1)
		b.h.logger.Warn("publisher: request body cut off", "timeout", b.h.bodyTimeout)
	}
	return n, err
}

// unread tells whether r has a body that was not read to its end.
func unread(r *http.Request) (*boundedBody, bool) {
	b, ok := r.Body.(*boundedBody)
	return b, ok && !b.eof
}

// closeConn is the Connection header of an answer given before the
// request's body was read: the connection is closed rather than the rest
// of the body read (net/http would read up to 256 KiB of it, at whatever
// pace the client sends it).
var closeConn = []string{"close"}

// dropBody prepares the answer to a request whose body is not read: the
// connection closes after it, and what net/http reads of the body when
// the handler returns ends at once.
func dropBody(w http.ResponseWriter, r *http.Request) {
	b, ok := unread(r)
	if !ok {
		return
	}
	w.Header()["Connection"] = closeConn
	if !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Now())
	}
}
