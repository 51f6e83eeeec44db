package publisher

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/eventfeed/eventfeed/internal/uuid"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/store"
)

// Request headers of an append (see the package documentation).
const (
	// HeaderEventType names the event's Type when the body is not an
	// Atom entry (whose category carries it).
	HeaderEventType = "Event-Type"
	// HeaderEventSubject names the event's Subject when the body is not
	// an Atom entry.
	HeaderEventSubject = "Event-Subject"
	// HeaderIdempotencyKey names an append within its feed: an append
	// repeated to the same feed with the same key stores the event once.
	// The event's ID is derived from the feed and the key (see the
	// package documentation).
	HeaderIdempotencyKey = "Idempotency-Key"
)

// authorized asks authorize whether r may do what to feed name, and
// answers 401 (with the challenge) or 403 when not, logging why.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request, authorize func(*http.Request, string) error, name, what string) bool {
	err := authorize(r, name)
	if err == nil {
		return true
	}
	h.logger.Warn("publisher: request refused", "feed", name, "to", what, "remote", r.RemoteAddr, "err", err)
	if errors.Is(err, ErrUnauthorized) {
		w.Header()["Www-Authenticate"] = h.challenge
		h.problem(w, r, http.StatusUnauthorized, fmt.Sprintf("credentials are needed to %s feed %q", what, name))
	} else {
		h.problem(w, r, http.StatusForbidden, fmt.Sprintf("not allowed to %s feed %q", what, name))
	}
	return false
}

// serveAppend answers POST /{feed}: an AtomPub append (RFC 5023 §9.2).
func (h *Handler) serveAppend(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("feed")
	if h.cfg.Authorize == nil {
		w.Header()["Allow"] = allowGet
		h.problem(w, r, http.StatusMethodNotAllowed, "appending over HTTP is not enabled")
		return
	}
	if err := eventfeed.ValidateFeedName(name); err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !h.authorized(w, r, h.cfg.Authorize, name, "append to") {
		return
	}
	ev, status, err := h.readEvent(w, r, name)
	if err != nil {
		h.problem(w, r, status, err.Error())
		return
	}
	if err := ev.Validate(); err != nil {
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	// A feed the Handler would refuse to serve takes no events either.
	if f, err := h.log.Feed(r.Context(), name); err == nil {
		if err := h.checkPageSize(f); err != nil {
			h.refuse(w, r, f, err)
			return
		}
	}
	stored, err := h.log.Append(r.Context(), ev)
	switch {
	case errors.Is(err, eventfeed.ErrConflict):
		what := fmt.Sprintf("event ID %q", ev.ID)
		if key, _ := idempotencyKey(r.Header); key != "" {
			what = fmt.Sprintf("%s %q (event ID %q)", HeaderIdempotencyKey, key, ev.ID)
		}
		h.problem(w, r, http.StatusConflict, fmt.Sprintf("%s is already used in feed %q for another event", what, name))
		return
	case errors.Is(err, eventfeed.ErrInvalidEvent), errors.Is(err, eventfeed.ErrInvalidFeedName):
		h.problem(w, r, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, eventfeed.ErrErased):
		h.problem(w, r, http.StatusConflict, fmt.Sprintf("subject %q of feed %q was erased: no event can be appended for it", ev.Subject, name))
		return
	case errors.Is(err, eventfeed.ErrEncryption):
		// The feed is encrypted and this server's Log does not encrypt,
		// or the reverse: its operator's setting, which no retry changes.
		h.problem(w, r, http.StatusConflict, fmt.Sprintf("feed %q: %v", name, err))
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	ev = stored[0]
	f, err := h.log.Feed(r.Context(), name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The body is the entry document with links relative to the request's
	// URL, which is the base a client resolves them against; with a
	// BaseURL it is the very document served at Location, which
	// Content-Location says (RFC 9110 §8.7).
	rd, err := h.renderEntry(f, ev, subscriptionDoc, false) // sent once, in identity
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.stats.appends.Add(1)
	h.logger.Debug("publisher: appended", "feed", name, "seq", ev.Seq, "id", ev.ID, "type", ev.Type)
	loc := h.entryLocation(r, f, ev.Seq)
	hdr := w.Header()
	hdr["Location"] = []string{loc}
	if h.base != "" {
		hdr["Content-Location"] = hdr["Location"]
	}
	// A replay answers as the original did: 201 with the same Location
	// and entry (as an Idempotency-Key server returns the stored response).
	h.write(w, r, rd, identity, noStoreCC, nil, http.StatusCreated)
}

// readEvent reads the event a POST carries: an Atom entry, or a raw body
// whose Content-Type becomes the event's. On error it returns the status
// to answer with.
func (h *Handler) readEvent(w http.ResponseWriter, r *http.Request, name string) (eventfeed.Event, int, error) {
	var ev eventfeed.Event
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ev, http.StatusUnsupportedMediaType, errors.New("Content-Type is missing: send an Atom entry (application/atom+xml;type=entry) or the event's data with its media type")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return ev, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q is not a media type: %v", ct, err)
	}
	body := http.MaxBytesReader(w, r.Body, h.maxBody)
	key, err := idempotencyKey(r.Header)
	if err != nil {
		return ev, http.StatusBadRequest, err
	}

	if mt == feed.MediaTypeFeed {
		if t, ok := params["type"]; ok && !strings.EqualFold(t, "entry") {
			return ev, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: append one entry document (type=entry)", ct)
		}
		e, err := feed.DecodeEntry(body, feed.DecodeOptions{MaxBytes: h.maxBody})
		if err == nil {
			// To its end, under the body's deadline, which then ends: the
			// append may take its time.
			_, err = io.Copy(io.Discard, body)
		}
		if err != nil {
			return ev, bodyStatus(err), fmt.Errorf("the Atom entry cannot be read: %w", err)
		}
		ev, err = e.Event(name)
		if err != nil {
			return ev, http.StatusBadRequest, fmt.Errorf("the Atom entry cannot be appended: %w", err)
		}
		ev.Seq = 0 // the Log assigns it
		if key != "" {
			ev.ID = KeyID(name, key)
		}
		if ev.ID == "" {
			ev.ID = uuid.NewURN()
		}
		return ev, 0, nil
	}

	data, err := io.ReadAll(body)
	if err != nil {
		return ev, bodyStatus(err), fmt.Errorf("the body cannot be read: %w", err)
	}
	if key != "" {
		key = KeyID(name, key)
	}
	ev = eventfeed.Event{
		Feed:        name,
		ID:          key,
		Type:        r.Header.Get(HeaderEventType),
		Subject:     r.Header.Get(HeaderEventSubject),
		ContentType: mime.FormatMediaType(mt, params),
		Data:        data,
	}
	if ev.Type == "" {
		return ev, http.StatusBadRequest, fmt.Errorf("the %s header is missing: it gives the type of an event sent as %s", HeaderEventType, mt)
	}
	if ev.ID == "" {
		ev.ID = uuid.NewURN()
	}
	return ev, 0, nil
}

// bodyStatus is the status for an error reading a request body.
func bodyStatus(err error) int {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) || errors.Is(err, feed.ErrTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// idempotencyKey returns the Idempotency-Key of hdr: a Structured Field
// string as its draft specifies ("…"), or, as many clients send it, a bare
// token.
func idempotencyKey(hdr http.Header) (string, error) {
	v := strings.TrimSpace(hdr.Get(HeaderIdempotencyKey))
	if !strings.HasPrefix(v, `"`) {
		return v, nil
	}
	s, err := strconv.Unquote(v)
	if err != nil || strings.ContainsAny(s, "\x00\r\n") {
		return "", fmt.Errorf("%s %s is not a quoted string", HeaderIdempotencyKey, v)
	}
	return s, nil
}

// KeyID is the ID of the event appended to the feed named feedName with
// Idempotency-Key key: a name-based (version 5) UUID of the URL
// "{feed.NSEventfeed}/feeds/{feedName}/idempotency-keys/{key, path-escaped}",
// as a urn:uuid. Keys are chosen by clients, each for its own appends:
// taken as event IDs as they are, the same key sent to two feeds would name
// one event (409, or the other feed's entry replayed). Derived, a key names
// one event per feed, the same on every instance and release, and a client
// can tell which entry its append became.
func KeyID(feedName, key string) string {
	return uuid.NameURN(uuid.NamespaceURL, feed.NSEventfeed+"/feeds/"+feedName+"/idempotency-keys/"+url.PathEscape(key))
}

// entryLocation is the URL of entry seq of f for the Location of a 201:
// absolute with a BaseURL; otherwise an absolute path, resolved against
// the path the client asked for (which holds any prefix the handler is
// mounted under). An absolute URL would need the scheme and host the client
// used, which behind a proxy the request does not reliably tell; RFC 9110
// §10.2.2 lets Location be a relative reference.
func (h *Handler) entryLocation(r *http.Request, f store.Feed, seq uint64) string {
	ref := h.links(f, subscriptionDoc).entry(seq)
	if h.base != "" {
		return ref
	}
	reqURL, err := url.ParseRequestURI(r.RequestURI)
	if err != nil || r.RequestURI == "" {
		reqURL = r.URL
	}
	refURL, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return reqURL.ResolveReference(refURL).String()
}
