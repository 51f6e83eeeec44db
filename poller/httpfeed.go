package poller

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/store"
)

// TypeDeleted is the Type of the event an HTTPFeed hands to the replica
// for an http-feeds deletion (a CloudEvent with "method": "DELETE"): its
// Subject is the subject deleted, its Data the JSON object
// {"method":"DELETE","type":"<the CloudEvent's type>"}. A projection that
// keeps one document per subject removes the subject's document when it
// sees one.
const TypeDeleted = "eventfeed.deleted"

// MediaTypeCloudEventsBatch is the media type of an http-feeds response.
const MediaTypeCloudEventsBatch = "application/cloudevents-batch+json"

// acceptBatch is the Accept header of an HTTPFeed's requests.
const acceptBatch = MediaTypeCloudEventsBatch + ", application/json;q=0.9"

// An HTTPFeed follows an http-feed (https://www.http-feeds.org/: a GET
// endpoint answering JSON arrays of CloudEvents, scrolled with
// ?lastEventId= and long-polled with ?timeout=) into a store.Replica, with
// the guarantees of a Poller: each batch is applied together with its
// checkpoint (the last event's id, and its efseq when the server sends
// one), so that after a crash at any point nothing is lost and nothing
// applied twice; events already applied (by id, or by efseq) are dropped.
//
// It takes the Poller's Config: Wait is the long poll's timeout, BatchSize
// bounds the events of one Apply (a larger response is applied in several,
// each with its checkpoint), MaxBodyBytes bounds a response,
// MaxPagesPerSync bounds the responses of one catch-up, and retries,
// redirects, origins, DeadLetter and Logger work as they do for Atom.
//
// What the spec leaves to servers and how it is met:
//   - Deletion: an event with "method": "DELETE" is applied as an event of
//     Type TypeDeleted. Methods other than PUT and DELETE stop the HTTPFeed
//     with ErrInvalidEntry.
//   - Compaction: a server may drop older events of a subject. A replica
//     that applied them before keeps their effects until the newer event
//     of the subject arrives; a new replica never sees them. Projections
//     that keep the latest state per subject end in the same state either
//     way; projections that count or sum events do not, and should not
//     follow a compacting feed.
//   - A lastEventId the server no longer knows: eventfeed's publisher
//     answers a problem document (ErrCheckpointLost); a server that
//     instead starts again from its first event is caught only where its
//     events carry efseq or were applied lately (RecentIDs).
type HTTPFeed struct {
	p    *Poller
	bufs sync.Pool // *bytes.Buffer, for response bodies
}

// NewHTTPFeed returns an HTTPFeed that follows the http-feed endpoint at
// source into replica, keeping its checkpoint under source. The events'
// Feed is named as New says, except that a path ending in /events (where
// eventfeed's publisher serves http-feeds) is named by the segment before.
func NewHTTPFeed(source string, replica store.Replica, cfg Config) (*HTTPFeed, error) {
	if cfg.FeedName == "" {
		// eventfeed's publisher serves feed F's http-feed at F/events.
		if u, err := url.Parse(source); err == nil {
			if dir, last := path.Split(strings.TrimSuffix(u.Path, "/")); last == "events" && strings.Trim(dir, "/") != "" {
				cfg.FeedName = feedNameOf(&url.URL{Path: dir})
			}
		}
	}
	p, err := New(source, replica, cfg)
	if err != nil {
		return nil, err
	}
	if p.source.RawQuery != "" {
		q := p.source.Query()
		if q.Has("lastEventId") || q.Has("timeout") {
			return nil, fmt.Errorf("poller: source %q: lastEventId and timeout are the HTTPFeed's to set", source)
		}
	}
	// Keys are under the feed's subscription URL, beside its events.
	if u := *p.source; strings.HasSuffix(u.Path, "/events") {
		u.Path, u.RawPath, u.RawQuery = strings.TrimSuffix(u.Path, "/events"), "", ""
		p.keys.keysAt(u.String())
	}
	return &HTTPFeed{p: p}, nil
}

// Source returns the URL followed, as it names the source in checkpoints.
func (f *HTTPFeed) Source() string { return f.p.Source() }

// FeedName returns the Feed given to the events applied.
func (f *HTTPFeed) FeedName() string { return f.p.FeedName() }

// Stats returns a snapshot of the counters; Pages counts responses.
func (f *HTTPFeed) Stats() Stats { return f.p.Stats() }

// Sync applies every event the endpoint has past the checkpoint and
// returns when an answer is empty (the end of the feed). Errors are
// retried or returned as for Poller.Sync.
func (f *HTTPFeed) Sync(ctx context.Context) error { return f.p.syncWith(ctx, f.catchUp) }

// Run catches up like Sync, then long-polls the endpoint (timeout =
// Config.Wait) and applies events as they come, until ctx ends (nil) or
// an error that retrying cannot cure.
func (f *HTTPFeed) Run(ctx context.Context) error { return f.p.runWith(ctx, f.run) }

func (f *HTTPFeed) run(ctx context.Context) error {
	p := f.p
	s, err := p.begin(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err = f.catchUp(ctx, s)
		var he *HTTPError
		if err == nil || s.resuming() || !errors.As(err, &he) || he.Status != http.StatusNotFound {
			break
		}
		// No feed yet: a consumer may start before the first event.
		d := min(p.backoff(attempt), p.cfg.MaxInterval)
		p.noteError(err, "feed not found; it may have no events yet: looking again", "in", d)
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	for {
		start := time.Now()
		b, err := f.fetch(ctx, s.cp.LastID, max(p.cfg.Wait, 0))
		if err != nil {
			return err
		}
		if len(b.events) > 0 {
			// The next long poll answers at once if more events wait.
			if err := f.apply(ctx, s, b); err != nil {
				return err
			}
			continue
		}
		// An empty answer well before the timeout: the server does not
		// hold requests; pause so as not to poll in a busy loop.
		if p.cfg.Wait <= 0 || time.Since(start) < p.cfg.Wait/2 {
			if err := sleep(ctx, p.interval(&page{maxAge: b.maxAge})); err != nil {
				return err
			}
		}
	}
}

// catchUp fetches and applies batches until an empty one. Unless
// Config.Prefetch < 0, a goroutine fetches the batches in turn, up to
// Prefetch ahead of the one being applied, and batches already fetched are
// applied together, up to Config.BatchSize events per Apply, as a Poller
// applies pages.
func (f *HTTPFeed) catchUp(ctx context.Context, s *session) error {
	p := f.p
	p.count(func(st *Stats) { st.CaughtUp = false })
	if p.cfg.Prefetch < 0 {
		for n := 1; ; n++ {
			b, err := f.fetch(ctx, s.cp.LastID, 0)
			if err != nil {
				return err
			}
			if len(b.events) == 0 {
				p.count(func(st *Stats) { st.CaughtUp = true })
				return nil
			}
			if n > p.cfg.MaxPagesPerSync {
				return fmt.Errorf("%w: more than %d batches", ErrTooManyPages, p.cfg.MaxPagesPerSync)
			}
			if err := f.apply(ctx, s, b); err != nil {
				return err
			}
		}
	}
	type result struct {
		b   *ceBatch
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan result, p.cfg.Prefetch)
	go func() {
		defer close(ch)
		last, next := s.cp.LastID, ""
		for n := 1; ; n++ {
			var b *ceBatch
			var err error
			if next != "" {
				u, _ := url.Parse(next) // made by nextLink
				b, err = f.fetchURL(ctx, u, last, 0)
			} else {
				b, err = f.fetch(ctx, last, 0)
			}
			if err == nil && len(b.events) > 0 && n > p.cfg.MaxPagesPerSync {
				err = fmt.Errorf("%w: more than %d batches", ErrTooManyPages, p.cfg.MaxPagesPerSync)
			}
			select {
			case ch <- result{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(b.events) == 0 {
				return
			}
			last, next = b.events[len(b.events)-1].ID, b.next
		}
	}()
	defer func() {
		// Stop the fetching goroutine and wait for it.
		cancel()
		for range ch {
		}
	}()
	var end *result // the answer that ends the catch-up, once received
	for end == nil {
		r, ok := <-ch
		if !ok {
			// The goroutine sends its last answer unless ctx ended.
			r.err = ctx.Err()
		}
		if r.err != nil || len(r.b.events) == 0 {
			end = &r
			break
		}
		b := r.b
	gather:
		for len(b.events) < p.cfg.BatchSize {
			select {
			case r, ok := <-ch:
				if !ok {
					r.err = ctx.Err()
				}
				if r.err != nil || len(r.b.events) == 0 {
					end = &r
					break gather
				}
				b = &ceBatch{url: r.b.url, events: append(b.events, r.b.events...)}
			default:
				break gather
			}
		}
		if err := f.apply(ctx, s, b); err != nil {
			return err
		}
	}
	if end.err != nil {
		return end.err
	}
	p.count(func(st *Stats) { st.CaughtUp = true })
	return nil
}

// apply applies the events of b that are new, in Applies of at most
// Config.BatchSize, and moves the checkpoint to b's last event.
func (f *HTTPFeed) apply(ctx context.Context, s *session, b *ceBatch) error {
	p := f.p
	sent := s.cp.LastID
	var bt batch
	dups, added := 0, 0
	for i, ev := range b.events {
		if ev.ID == s.cp.LastID || p.seen.contains(ev.ID) || ev.Seq > 0 && s.cp.Seq > 0 && ev.Seq <= s.cp.Seq {
			dups++
		} else if _, ok := bt.ids[ev.ID]; ok {
			dups++
		} else {
			bt.add(ev, b.url)
			added++
		}
		if len(bt.events) >= p.cfg.BatchSize || i == len(b.events)-1 && len(bt.events) > 0 {
			if err := p.commit(ctx, s, &bt); err != nil {
				return err
			}
		}
	}
	if dups > 0 {
		p.count(func(st *Stats) { st.Duplicates += uint64(dups) })
	}
	last := b.events[len(b.events)-1]
	if added == 0 && sent != "" && last.ID == sent {
		// The answer ends with the event asked to go past.
		return fmt.Errorf("%w: %s answered events up to lastEventId %q again: it does not scroll by lastEventId", ErrNotAFeed, b.url, sent)
	}
	if s.cp.LastID == last.ID {
		return nil
	}
	// The answer ended with events already applied: move past them.
	cp := p.checkpointAt(s, b.events, len(b.events)-1, b.url)
	for attempt := 0; ; attempt++ {
		err := p.replica.Apply(ctx, cp, nil)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventfeed.ErrClosed) {
			return fmt.Errorf("poller: apply: %w", err)
		}
		p.noteError(err, "checkpoint failed; retrying")
		if err := sleep(ctx, p.backoff(attempt)); err != nil {
			return err
		}
	}
	s.cp = cp
	return nil
}

// ceBatch is one decoded http-feeds response.
type ceBatch struct {
	url    string // the URL asked (the endpoint with its query)
	next   string // the absolute URL of a Link rel="next", if any
	events []eventfeed.Event
	maxAge time.Duration
}

// fetch gets the batch after last, retrying as fetchRetry does. wait > 0
// asks the server to hold the request that long (timeout).
func (f *HTTPFeed) fetch(ctx context.Context, last string, wait time.Duration) (*ceBatch, error) {
	u := *f.p.source
	q := u.Query()
	if last != "" {
		q.Set("lastEventId", last)
	}
	if wait > 0 {
		q.Set("timeout", strconv.FormatInt(wait.Milliseconds(), 10))
	}
	u.RawQuery = q.Encode()
	return f.fetchURL(ctx, &u, last, wait)
}

// fetchURL gets the batch at u, which follows the event last.
func (f *HTTPFeed) fetchURL(ctx context.Context, u *url.URL, last string, wait time.Duration) (*ceBatch, error) {
	p := f.p
	var first time.Time // of the failures in a row
	for attempt := 0; ; attempt++ {
		b, err := f.fetchOnce(ctx, u, wait)
		if err == nil {
			p.count(func(s *Stats) { s.Pages++ })
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var r *retryable
		if !errors.As(err, &r) {
			if he := (*HTTPError)(nil); errors.As(err, &he) && last != "" && he.Status == http.StatusNotFound {
				switch he.Problem.Type {
				case eventfeed.ProblemUnknownEvent:
					return nil, fmt.Errorf("%w: %s does not know the last event applied, %q: %w", eventfeed.ErrCheckpointLost, p.source.Redacted(), last, he)
				case eventfeed.ProblemFeedReset:
					return nil, fmt.Errorf("%w: %w: %w", eventfeed.ErrCheckpointLost, eventfeed.ErrFeedReset, he)
				}
			}
			return nil, err
		}
		if err := p.retryLater(ctx, err, attempt, &first, "fetch", u.Redacted()); err != nil {
			return nil, err
		}
	}
}

// fetchOnce makes one GET of u. Errors worth retrying are *retryable.
func (f *HTTPFeed) fetchOnce(ctx context.Context, u *url.URL, wait time.Duration) (*ceBatch, error) {
	p := f.p
	rctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout+wait)
	defer cancel()
	if err := p.checkOrigin(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("poller: %w", err)
	}
	req.Header.Set("Accept", acceptBatch)
	req.Header.Set("Accept-Encoding", "gzip") // bounded below, as in fetchOnce
	req.Header.Set("User-Agent", userAgent)
	resp, err := p.do(ctx, req, u)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return nil, &retryable{err: httpError(resp, u), after: retryAfter(resp.Header, time.Now())}
	case code >= 500:
		return nil, &retryable{err: httpError(resp, u)}
	default:
		return nil, httpError(resp, u)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != MediaTypeCloudEventsBatch && mt != "application/json" {
		return nil, fmt.Errorf("%w: %s: Content-Type %q is not %s", ErrNotAFeed, u.Redacted(), resp.Header.Get("Content-Type"), MediaTypeCloudEventsBatch)
	}
	lr, release, err := p.openBody(ctx, resp, u)
	if err != nil {
		return nil, err
	}
	defer release()
	b := &ceBatch{url: u.String(), maxAge: maxAge(resp.Header), next: nextLink(resp)}
	if err := f.decode(b, lr); err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case lr.err != nil && errors.Is(lr.err, feed.ErrTooLarge):
			return nil, fmt.Errorf("poller: GET %s: %w: more than %d bytes", u.Redacted(), feed.ErrTooLarge, p.cfg.MaxBodyBytes)
		case lr.err != nil, errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &retryable{err: fmt.Errorf("poller: GET %s: reading body: %w", u.Redacted(), err)}
		}
		return nil, fmt.Errorf("poller: GET %s: %w", u.Redacted(), err)
	}
	return b, nil
}

// cloudEvent is a CloudEvent in the JSON format, with the attributes an
// http-feed uses.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	DataBase64      *string         `json:"data_base64"`
	Method          string          `json:"method"`
	Seq             json.RawMessage `json:"efseq"`
}

// decode reads a JSON array of CloudEvents from r into b.
//
// The body is read whole (it is bounded) and parsed at once, by
// parseCloudEvents or, for what it leaves, by encoding/json: a
// json.Decoder per response, decoding element by element, took twice the
// time of the Atom decoder on the same events, most of it growing and
// moving its buffer.
func (f *HTTPFeed) decode(b *ceBatch, r io.Reader) error {
	buf, _ := f.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 4<<20 {
			buf.Reset()
			f.bufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	data := bytes.TrimSpace(buf.Bytes())
	if len(data) == 0 || data[0] != '[' {
		return fmt.Errorf("%w: %s: the body is not a JSON array", ErrNotAFeed, b.url)
	}
	ces, ok := parseCloudEvents(data)
	if !ok {
		if err := json.Unmarshal(data, &ces); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) && se.Offset >= int64(len(data)) {
				return fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, err) // cut off
			}
			return fmt.Errorf("%w: %s: %w", ErrInvalidEntry, b.url, err)
		}
	}
	b.events = make([]eventfeed.Event, 0, len(ces))
	for i := range ces {
		ev, err := f.event(&ces[i])
		if err != nil {
			return fmt.Errorf("%w: event %d (%q) of %s: %w", ErrInvalidEntry, i, ces[i].ID, b.url, err)
		}
		b.events = append(b.events, ev)
	}
	if hi := b.events; len(hi) > 0 && hi[len(hi)-1].Seq > 0 {
		p := f.p
		p.mu.Lock()
		p.maxSeq = max(p.maxSeq, hi[len(hi)-1].Seq)
		p.mu.Unlock()
	}
	return nil
}

// event maps a CloudEvent to an Event, as the HTTPFeed documentation says.
func (f *HTTPFeed) event(ce *cloudEvent) (eventfeed.Event, error) {
	ev := eventfeed.Event{Feed: f.p.feedName, ID: ce.ID, Type: ce.Type, Subject: ce.Subject, ContentType: ce.DataContentType}
	if ce.SpecVersion != "1.0" {
		return ev, fmt.Errorf("specversion %q, want 1.0", ce.SpecVersion)
	}
	if ce.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, ce.Time)
		if err != nil {
			return ev, fmt.Errorf("time %q is not RFC 3339", ce.Time)
		}
		ev.Time = t
	}
	if len(ce.Seq) > 0 && string(ce.Seq) != "null" {
		n, err := strconv.ParseUint(strings.Trim(string(ce.Seq), `"`), 10, 64)
		if err != nil || n == 0 {
			return ev, fmt.Errorf("efseq %s is not a positive integer", ce.Seq)
		}
		ev.Seq = n
	}
	switch {
	case ce.DataBase64 != nil:
		if len(ce.Data) > 0 {
			return ev, errors.New("both data and data_base64")
		}
		d, err := base64.StdEncoding.DecodeString(*ce.DataBase64)
		if err != nil {
			return ev, fmt.Errorf("data_base64: %w", err)
		}
		ev.Data = d
	case len(ce.Data) > 0 && jsonType(ev.MediaType()):
		ev.Data = []byte(ce.Data)
	case len(ce.Data) > 0:
		var s string
		if err := json.Unmarshal(ce.Data, &s); err != nil {
			return ev, fmt.Errorf("data of type %s is not a string", ev.MediaType())
		}
		ev.Data = []byte(s)
	}
	switch strings.ToUpper(ce.Method) {
	case "", "PUT":
	case "DELETE":
		data, _ := json.Marshal(struct {
			Method string `json:"method"`
			Type   string `json:"type"`
		}{"DELETE", ce.Type})
		ev.Type, ev.ContentType, ev.Data = TypeDeleted, "application/json", data
		if ev.Subject == "" {
			return ev, errors.New("a DELETE without a subject")
		}
	default:
		return ev, fmt.Errorf("method %q is neither PUT nor DELETE", ce.Method)
	}
	if err := ev.Validate(); err != nil {
		return ev, err
	}
	return ev, nil
}

// jsonType reports whether media type ct is JSON (*/json, */*+json).
func jsonType(ct string) bool {
	if ct == eventfeed.DefaultContentType {
		return true // the common case, without parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	_, sub, _ := strings.Cut(mt, "/")
	return sub == "json" || strings.HasSuffix(sub, "+json")
}

// nextLink returns the absolute URL of resp's Link with rel="next" (RFC
// 8288), or "". A server that sends it promises that the batch there
// follows this one: it spares the request by lastEventId (and the
// redirect eventfeed's publisher answers it with).
func nextLink(resp *http.Response) string {
	for _, v := range resp.Header.Values("Link") {
		for _, link := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			target = strings.TrimSpace(target)
			if !ok || len(target) < 2 || target[0] != '<' || target[len(target)-1] != '>' {
				continue
			}
			for _, param := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
				if !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						ref, err := url.Parse(target[1 : len(target)-1])
						if err != nil {
							return ""
						}
						abs := resp.Request.URL.ResolveReference(ref)
						abs.Fragment, abs.RawFragment = "", ""
						return abs.String()
					}
				}
			}
		}
	}
	return ""
}
