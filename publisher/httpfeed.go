package publisher

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/jsonscan"
	"github.com/eventfeed/eventfeed/store"
)

// The http-feeds representation (https://www.http-feeds.org/) of every feed,
// made from the same Log as the Atom documents:
//
//	GET /{feed}/events?lastEventId=ID&timeout=MS   the http-feed endpoint
//	GET /{feed}/{epoch}/batches/{k}                 page k as a batch
//	GET /{feed}/{epoch}/events/{seq}                one structured CloudEvent
//
// The endpoint answers a JSON array of CloudEvents 1.0
// (application/cloudevents-batch+json) holding the events after lastEventId
// (from the first when it is absent), at most up to the end of the page
// that follows it, so that the next lastEventId lands on a page boundary.
// When that batch is a full page, the answer is a 303 See Other to the
// page's batch URL, which never changes (Cache-Control immutable): shared
// caches serve full batches to every consumer, as they serve Atom
// archives. A full batch links the batch after it (Link: <…>; rel="next",
// RFC 8288), which a client may fetch without the round trip of a
// redirect; the batch of the page being filled has no such link. The endpoint's own answers change with the head and revalidate
// like the subscription document (ETag, 304). An empty array says the
// consumer is at the head; with timeout (milliseconds, capped by
// Config.MaxWait) the request is held until an append, like Prefer: wait.
// A lastEventId that the feed does not have is answered 404 with a problem
// document of type eventfeed.ProblemUnknownEvent: never by a restart from
// the beginning.
//
// Each event maps to a CloudEvent thus: id = ID, source = the feed's
// subscription URL, specversion 1.0, type = Type, subject = Subject (absent
// when empty), time = Time (RFC 3339, nanoseconds kept), datacontenttype =
// the event's media type, and the extension attribute efseq = Seq (a
// decimal string: CloudEvents integers stop at 2³¹-1). Data goes in "data"
// as JSON when the media type is JSON (*/json, */*+json) and Data is valid
// JSON, bytes unchanged (unless the value is a JSON string: see
// jsonString); as a string when the type is text (text/*, */xml,
// */*+xml) and Data is valid UTF-8; else Base64 in "data_base64". Empty
// Data has neither member.

// Media types of the http-feeds representation.
const (
	MediaTypeCloudEventsBatch = "application/cloudevents-batch+json"
	MediaTypeCloudEvent       = "application/cloudevents+json"
)

// ExtSeq is the CloudEvents extension attribute that carries an event's
// Seq, as a decimal string.
const ExtSeq = "efseq"

// Defaults of the http-feeds endpoint's limits.
const (
	// maxScan bounds how many events, newest first, are read to find a
	// lastEventId in a Log that cannot look an ID up (see idLocator) and
	// that the Handler has not served lately.
	maxScan = 100_000
	// idCacheSize is how many event IDs the Handler remembers the seq of.
	idCacheSize = 1 << 17
	// catchUpWait bounds the wait for this Handler's view of a head to
	// reach a lastEventId that the log has (see serveHTTPFeed).
	catchUpWait = 5 * time.Second
)

// Keys of http-feeds documents in the page cache: formats no request
// negotiates, so that they never meet an Atom document's key.
const (
	batchFormat      format = 0xf0
	cloudEventFormat format = 0xf1
)

var (
	batchType      = []string{MediaTypeCloudEventsBatch}
	cloudEventType = []string{MediaTypeCloudEvent}
)

// idLocator is implemented by Logs that find an event by ID through an
// index. The Handler uses it to resolve a lastEventId it has not served
// lately; without it, it reads the feed backwards (at most maxScan events).
type idLocator interface {
	// Locate returns the feed and seq of the event with id; ok is false
	// when the log has no such event.
	Locate(ctx context.Context, id string) (feed string, seq uint64, ok bool, err error)
}

// idKey names an event ID of one epoch of a feed.
type idKey struct{ feed, epoch, id string }

// httpFeedRoutes registers the http-feeds URLs on m.
func (h *Handler) httpFeedRoutes(m *http.ServeMux) {
	p := h.cfg.Prefix
	m.HandleFunc("GET "+p+"/{feed}/events", h.serveHTTPFeed)
	m.HandleFunc("GET "+p+"/{feed}/{epoch}/batches/{k}", h.serveBatch)
	m.HandleFunc("GET "+p+"/{feed}/{epoch}/events/{seq}", h.serveCloudEvent)
	get := h.methodNotAllowed(allowGet)
	m.HandleFunc(p+"/{feed}/events", get)
	m.HandleFunc(p+"/{feed}/{epoch}/batches/{k}", get)
	m.HandleFunc(p+"/{feed}/{epoch}/events/{seq}", get)
	h.ids, _ = lru.New[idKey, uint64](idCacheSize)
}

// httpFeedLink is the href of f's http-feed endpoint in a document
// served at at.
func (h *Handler) httpFeedLink(f store.Feed, at docAt) string {
	return h.links(f, at).subscription(f.Name) + "/events"
}

// selfLink is the href of f's http-feed endpoint in an answer of the
// endpoint itself.
func (h *Handler) selfLink(f store.Feed) string {
	if h.base != "" {
		return h.base + f.Name + "/events"
	}
	return "events"
}

// source is the CloudEvents source of f's events: its subscription URL,
// absolute when Config.BaseURL is set, else an absolute path.
func (h *Handler) source(name string) string {
	if h.base != "" {
		return h.base + name
	}
	return h.cfg.Prefix + "/" + name
}

// serveHTTPFeed answers GET /{feed}/events.
func (h *Handler) serveHTTPFeed(w http.ResponseWriter, r *http.Request) {
	f, ok := h.lookup(w, r, r.PathValue("feed"))
	if !ok {
		return
	}
	q := r.URL.Query()
	var wait time.Duration
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			h.problem(w, r, http.StatusBadRequest, fmt.Sprintf("timeout %q is not a whole number of milliseconds", v))
			return
		}
		wait = min(time.Duration(ms)*time.Millisecond, h.maxWait)
	}
	after := uint64(0)
	if id := q.Get("lastEventId"); id != "" {
		seq, found, err := h.locate(r.Context(), f, id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		switch {
		case found:
			after = seq
		case id == "null":
			// The spec's "missing or null": the first batch.
		default:
			h.writeProblem(w, r, problem{
				Type:   eventfeed.ProblemUnknownEvent,
				Title:  "Unknown lastEventId",
				Status: http.StatusNotFound,
				Detail: fmt.Sprintf("feed %q has no event %q (it may have been reset, or the ID belongs to another feed): "+
					"start again from the beginning deliberately, without lastEventId, if that is what you mean", f.Name, id),
				Current: h.selfLink(f),
			})
			return
		}
	}
	if after > f.Head {
		// Another instance sharing the log served the event before this
		// one heard of it (PostgreSQL notifications take a moment): wait
		// for the head to get there, briefly.
		ctx, cancel := context.WithTimeout(r.Context(), catchUpWait)
		nf, err := h.log.Wait(ctx, f.Name, after-1)
		cancel()
		if err != nil || nf.Epoch != f.Epoch {
			if r.Context().Err() != nil {
				return
			}
			w.Header()["Retry-After"] = []string{"1"}
			h.problem(w, r, http.StatusServiceUnavailable, fmt.Sprintf("event %q is at seq %d of %q, past the head %d this server knows: ask again", q.Get("lastEventId"), after, f.Name, f.Head))
			return
		}
		f = nf
	}
	if after == f.Head && wait > 0 && h.maxWait > 0 && h.ctx.Err() == nil {
		nf, moved, err := h.wait(r.Context(), f, wait)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if moved {
			if err := h.checkPageSize(nf); err != nil {
				h.refuse(w, r, nf, err)
				return
			}
			if nf.Epoch != f.Epoch {
				// The log was replaced while the request waited: what
				// after meant is gone.
				h.problem(w, r, http.StatusServiceUnavailable, "the feed was reset; ask again")
				return
			}
			f = nf
		}
	}
	n := uint64(f.PageSize)
	if after%n == 0 && after+n <= f.Head {
		// A full page: send the client where caches keep it.
		w.Header()["Location"] = []string{h.batchLink(f, after/n+1)}
		w.Header()["Cache-Control"] = h.headCC
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	to := min(f.Head, (after/n+1)*n)
	// The events after..to never change within an epoch; the ETag
	// names them, and is decided without reading the log.
	etag := `"` + f.Epoch + "." + strconv.FormatUint(after, 10) + "." + strconv.FormatUint(to, 10) + "." + h.fingerprint + `.h"`
	c := acceptsGzip(r.Header)
	if tags := [2]string{etag, gzipETag(etag)}; etagMatch(r.Header["If-None-Match"], tags[c]) {
		h.writeNotModified(w, []string{tags[c]}, h.headCC, varyEncoding)
		return
	}
	body, err := h.renderBatch(r.Context(), f, after+1, to)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.write(w, r, h.newRendition(body, batchType, etag, time.Time{}, c == gzipped), c, h.headCC, varyEncoding, http.StatusOK)
}

// batchLink is the URL of batch k of f, relative to the http-feed
// endpoint (or absolute with a BaseURL).
func (h *Handler) batchLink(f store.Feed, k uint64) string {
	epoch := url.PathEscape(f.Epoch)
	if h.base != "" {
		return h.base + f.Name + "/" + epoch + "/batches/" + strconv.FormatUint(k, 10)
	}
	return epoch + "/batches/" + strconv.FormatUint(k, 10)
}

// nextBatchLink is the URL of batch k+1 of f, relative to batch k's.
func (h *Handler) nextBatchLink(f store.Feed, k uint64) string {
	if h.base != "" {
		return h.batchLink(f, k+1)
	}
	return strconv.FormatUint(k+1, 10)
}

// serveBatch answers GET /{feed}/{epoch}/batches/{k}: page k as a batch,
// immutable when full, else the working page's events so far.
func (h *Handler) serveBatch(w http.ResponseWriter, r *http.Request) {
	f, ok := h.lookup(w, r, r.PathValue("feed"))
	if !ok || !h.checkEpoch(w, r, f, pageDoc) {
		return
	}
	k, ok := parsePos(r.PathValue("k"))
	n := uint64(f.PageSize)
	working := f.Head/n + 1
	if !ok || k > working {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("no batch %q of feed %q: batches are numbered 1 to %d", r.PathValue("k"), f.Name, working))
		return
	}
	c := acceptsGzip(r.Header)
	if k == working {
		from := (k-1)*n + 1
		etag := `"` + f.Epoch + "." + strconv.FormatUint(from-1, 10) + "." + strconv.FormatUint(f.Head, 10) + "." + h.fingerprint + `.b"`
		if etagMatch(r.Header["If-None-Match"], etag) {
			h.writeNotModified(w, []string{etag}, h.headCC, varyEncoding)
			return
		}
		body, err := h.renderBatch(r.Context(), f, from, f.Head)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.write(w, r, h.newRendition(body, batchType, etag, time.Time{}, false), identity, h.headCC, varyEncoding, http.StatusOK)
		return
	}
	rendered := false
	rd, err := h.cached(r.Context(), batchKey(f, k), func(ctx context.Context) (*rendition, error) {
		rendered = true
		return h.renderFullBatch(ctx, f, k)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if rendered || rd.ahead.Load() && rd.ahead.CompareAndSwap(true, false) {
		h.readAheadBatch(f, k+1)
	}
	// The batch after a full one, which a client may fetch instead of
	// asking the endpoint (and being redirected) again.
	w.Header()["Link"] = []string{"<" + h.nextBatchLink(f, k) + `>; rel="next"`}
	h.serve(w, r, rd, c, immutableCC, varyEncoding, http.StatusOK)
}

func batchKey(f store.Feed, k uint64) docKey {
	return docKey{feed: f.Name, epoch: f.Epoch, n: k, format: batchFormat}
}

// renderFullBatch renders full page k of f as a batch.
func (h *Handler) renderFullBatch(ctx context.Context, f store.Feed, k uint64) (*rendition, error) {
	n := uint64(f.PageSize)
	body, err := h.renderBatch(ctx, f, (k-1)*n+1, k*n)
	if err != nil {
		return nil, err
	}
	return h.newRendition(body, batchType, "", time.Time{}, true), nil
}

// readAheadBatch renders full batch k of f into the page cache in the
// background, as readAhead does for Atom pages: a consumer catching up
// finds the next batch rendered while it applies this one.
func (h *Handler) readAheadBatch(f store.Feed, k uint64) {
	h.renderAhead(f, k, batchKey(f, k), func(ctx context.Context) (*rendition, error) {
		return h.renderFullBatch(ctx, f, k)
	})
}

// serveCloudEvent answers GET /{feed}/{epoch}/events/{seq}: one event as a
// structured CloudEvent.
func (h *Handler) serveCloudEvent(w http.ResponseWriter, r *http.Request) {
	f, seq, ok := h.lookupEntry(w, r)
	if !ok {
		return
	}
	rd, err := h.cached(r.Context(), docKey{feed: f.Name, epoch: f.Epoch, n: seq, entry: true, format: cloudEventFormat},
		func(ctx context.Context) (*rendition, error) {
			events, err := h.readRange(ctx, f, seq, seq)
			if err != nil {
				return nil, err
			}
			return h.newRendition(appendCloudEvent(nil, h.source(f.Name), &events[0]), cloudEventType, "", events[0].Time, true), nil
		})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.serve(w, r, rd, acceptsGzip(r.Header), immutableCC, varyEncoding, http.StatusOK)
}

// readRange reads seqs from..to of f, all of them, and remembers the last
// one's ID: the lastEventId a consumer sends next. Other IDs are found by
// Locate (or the scan) when asked for.
func (h *Handler) readRange(ctx context.Context, f store.Feed, from, to uint64) ([]eventfeed.Event, error) {
	events, err := h.log.Read(ctx, f.Name, from, to)
	if err == nil {
		err = contiguous(events, from, to)
	}
	if err != nil {
		return nil, fmt.Errorf("publisher: read events %d..%d of %s: %w", from, to, f.Name, err)
	}
	last := &events[len(events)-1]
	h.ids.Add(idKey{f.Name, f.Epoch, last.ID}, last.Seq)
	return events, nil
}

// renderBatch renders seqs from..to of f (none when from > to) as a JSON
// batch of CloudEvents.
func (h *Handler) renderBatch(ctx context.Context, f store.Feed, from, to uint64) ([]byte, error) {
	if from > to {
		return []byte("[]\n"), nil
	}
	events, err := h.readRange(ctx, f, from, to)
	if err != nil {
		return nil, err
	}
	src := h.source(f.Name)
	size := 2
	for i := range events {
		size += 256 + len(events[i].Data)*4/3
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i := range events {
		if i > 0 {
			b = append(b, ",\n"...)
		}
		b = appendCloudEvent(b, src, &events[i])
	}
	b = append(b, "]\n"...)
	h.stats.renders.Add(1)
	return b, nil
}

// locate returns the seq of the event id in f, if f has it.
func (h *Handler) locate(ctx context.Context, f store.Feed, id string) (uint64, bool, error) {
	key := idKey{f.Name, f.Epoch, id}
	if seq, ok := h.ids.Get(key); ok {
		return seq, true, nil
	}
	if l, ok := h.log.(idLocator); ok {
		name, seq, found, err := l.Locate(ctx, id)
		if err != nil {
			return 0, false, fmt.Errorf("publisher: locate event %q: %w", id, err)
		}
		if !found || name != f.Name {
			return 0, false, nil
		}
		if seq <= f.Head {
			h.ids.Add(key, seq)
		}
		return seq, true, nil
	}
	// Newest first: a consumer that lost its place is most likely near
	// the head.
	n := uint64(f.PageSize)
	for to, scanned := f.Head, uint64(0); to > 0 && scanned < maxScan; {
		from := (to-1)/n*n + 1
		events, err := h.log.Read(ctx, f.Name, from, to)
		if err != nil {
			return 0, false, fmt.Errorf("publisher: look for event %q in %s: %w", id, f.Name, err)
		}
		for i := range events {
			if events[i].ID == id {
				h.ids.Add(key, events[i].Seq)
				return events[i].Seq, true, nil
			}
		}
		scanned += to - from + 1
		to = from - 1
	}
	return 0, false, nil
}

// appendCloudEvent appends ev as a CloudEvent in the JSON format.
func appendCloudEvent(b []byte, source string, ev *eventfeed.Event) []byte {
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, source)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, ev.Type)
	if ev.Subject != "" {
		b = append(b, `,"subject":`...)
		b = appendJSONString(b, ev.Subject)
	}
	if !ev.Time.IsZero() {
		b = append(b, `,"time":"`...)
		b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"`+ExtSeq+`":"`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `","datacontenttype":`...)
	mt := ev.MediaType()
	b = appendJSONString(b, mt)
	if len(ev.Data) > 0 {
		switch kind := dataKind(mt); {
		case kind == jsonData && jsonscan.Valid(ev.Data) && !jsonString(ev.Data):
			b = append(b, `,"data":`...)
			b = append(b, ev.Data...)
		case kind == textData && utf8.Valid(ev.Data):
			b = append(b, `,"data":`...)
			b = appendJSONString(b, string(ev.Data))
		default:
			b = append(b, `,"data_base64":"`...)
			b = base64.StdEncoding.AppendEncode(b, ev.Data)
			b = append(b, '"')
		}
	}
	return append(b, '}')
}

// jsonString reports whether the JSON value b is a string. Readers take a
// string "data" member for its content without the quotes (the CloudEvents
// SDK for Go does), which are part of the bytes appended: such data goes
// in data_base64, which every reader hands back as it was.
func jsonString(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '"'
}

const (
	binaryData = iota
	jsonData
	textData
)

// dataKind tells how a CloudEvent carries data of media type ct (JSON
// Event Format §3.1.1): JSON types as JSON, text types as a string, others
// as Base64.
func dataKind(ct string) int {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return binaryData
	}
	typ, sub, _ := strings.Cut(mt, "/")
	switch {
	case sub == "json" || strings.HasSuffix(sub, "+json"):
		return jsonData
	case typ == "text" || sub == "xml" || strings.HasSuffix(sub, "+xml"):
		return textData
	}
	return binaryData
}

// appendJSONString appends s as a JSON string. s is valid UTF-8 (Event
// fields are validated, and data is checked before): what is escaped is
// what JSON requires, and U+2028/2029 for JavaScript readers.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
