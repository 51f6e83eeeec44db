package poller

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/eventfeed/eventfeed"
)

// Errors a Poller returns for feeds it refuses to follow. They are final:
// Sync and Run return them instead of retrying. Test for them with
// errors.Is. Besides these, a lost position wraps eventfeed.ErrCheckpointLost
// (and eventfeed.ErrFeedReset when the publisher says its feed was reset),
// and a body over Config.MaxBodyBytes wraps feed.ErrTooLarge.
var (
	// ErrCrossOrigin reports a link or redirect to an origin (scheme, host
	// and port) other than the source's, which Config does not allow.
	ErrCrossOrigin = errors.New("poller: link to another origin")
	// ErrLinkLoop reports a walk over prev-archive or next-archive links
	// that came back to a page it had already visited.
	ErrLinkLoop = errors.New("poller: link loop")
	// ErrTooManyPages reports a catch-up that visited more than
	// Config.MaxPagesPerSync pages.
	ErrTooManyPages = errors.New("poller: too many pages in one sync")
	// ErrTooManyRedirects reports a request redirected more than
	// Config.MaxRedirects times.
	ErrTooManyRedirects = errors.New("poller: too many redirects")
	// ErrNotAFeed reports a response that is not an Atom feed document: a
	// Content-Type such as text/html, or a body that is not atom:feed.
	ErrNotAFeed = errors.New("poller: not an Atom feed")
	// ErrInvalidEntry reports an entry that cannot be turned into an event:
	// no atom:id, or content that cannot be read. No entry of its page is
	// applied.
	ErrInvalidEntry = errors.New("poller: invalid entry")
	// ErrUnsupportedFeed reports a feed whose order, or content, the
	// Poller cannot establish, such as an RFC 5005 §3 paged feed whose
	// entries carry neither ef:seq nor numbered IDs, or whose entries
	// leave their content out. The message names what is missing.
	ErrUnsupportedFeed = errors.New("poller: unsupported feed")
	// ErrGaveUp wraps the last failure of a request or an Apply that was
	// retried for Config.MaxRetryTime.
	ErrGaveUp = errors.New("poller: gave up retrying")
	// ErrBusy reports a call to Sync or Run while another is running on
	// the same Poller.
	ErrBusy = errors.New("poller: already running")
)

// HTTPError reports a response whose status the Poller does not retry: a
// 4xx other than 429 (404 and 410 of a checkpoint's page become
// eventfeed.ErrCheckpointLost, wrapping the HTTPError).
type HTTPError struct {
	URL    string
	Status int // HTTP status code
	// Problem is the RFC 9457 problem detail of the response, when it sent
	// one (application/problem+json); zero otherwise.
	Problem Problem
}

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title,omitempty"`
	Status int    `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "poller: GET %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
	switch {
	case e.Problem.Detail != "":
		b.WriteString(": " + e.Problem.Detail)
	case e.Problem.Title != "":
		b.WriteString(": " + e.Problem.Title)
	}
	return b.String()
}

// reset reports whether the problem says that the feed was reset: its
// publisher's log was wiped and rebuilt under a new epoch. The wire
// contract answers a page of another epoch with a 404 of that type.
func (e *HTTPError) reset() bool { return e.Problem.Type == eventfeed.ProblemFeedReset }

// retryable wraps an error worth retrying: a network failure, a 5xx or 429,
// a truncated body. after is the wait the server asked for (Retry-After),
// zero when it did not say.
type retryable struct {
	err   error
	after time.Duration
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }
