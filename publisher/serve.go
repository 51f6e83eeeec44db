package publisher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/store"
)

// serveService answers GET / with the AtomPub service document: one
// workspace, one collection per feed.
func (h *Handler) serveService(w http.ResponseWriter, r *http.Request) {
	feeds, err := h.log.Feeds(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ws := feed.Workspace{Title: h.title, Collections: make([]feed.Collection, len(feeds))}
	for i, f := range feeds {
		ws.Collections[i] = feed.Collection{
			Href:   h.links(f, serviceDoc).subscription(f.Name),
			Title:  h.feedTitle(f.Name),
			Accept: h.accept,
		}
	}
	var buf bytes.Buffer
	if err := feed.EncodeService(&buf, &feed.Service{Workspaces: []feed.Workspace{ws}}); err != nil {
		h.fail(w, r, fmt.Errorf("publisher: render service document: %w", err))
		return
	}
	rd := h.newRendition(buf.Bytes(), serviceType, "", time.Time{}, true)
	h.serve(w, r, rd, acceptsGzip(r.Header), h.headCC, varyEncoding, http.StatusOK)
}

// serveSubscription answers GET /{feed}: the working page's entries.
func (h *Handler) serveSubscription(w http.ResponseWriter, r *http.Request) {
	f, ok := h.lookup(w, r, r.PathValue("feed"))
	if !ok {
		return
	}
	h.serveHead(w, r, h.heads(f), subscription, true)
}

// servePage answers GET /{feed}/{epoch}/pages/{k}.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	f, ok := h.lookup(w, r, r.PathValue("feed"))
	if !ok || !h.checkEpoch(w, r, f, pageDoc) {
		return
	}
	k, ok := parsePos(r.PathValue("k"))
	if !ok {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("no page %q: pages are numbered from 1", r.PathValue("k")))
		return
	}
	h.servePageK(w, r, f, k, true)
}

// servePageK serves page k of f. mayWait is false once a long poll has
// waited: it does not wait twice.
func (h *Handler) servePageK(w http.ResponseWriter, r *http.Request, f store.Feed, k uint64, mayWait bool) {
	working := f.Head/uint64(f.PageSize) + 1
	if k < working {
		h.serveFull(w, r, f, k)
		return
	}
	if k > working {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("page %d of feed %q does not exist yet: the working page is %d", k, f.Name, working))
		return
	}
	d := h.heads(f)
	if k < d.working {
		// Another request already saw a newer head, which filled page k.
		h.serveFull(w, r, d.f, k)
		return
	}
	h.serveHead(w, r, d, workingPage, mayWait)
}

// serveFull serves full page k from the page cache.
func (h *Handler) serveFull(w http.ResponseWriter, r *http.Request, f store.Feed, k uint64) {
	fm := formatOf(r)
	rendered := false
	rd, err := h.cached(r.Context(), docKey{feed: f.Name, epoch: f.Epoch, n: k, format: fm},
		func(ctx context.Context) (*rendition, error) {
			rendered = true
			return h.renderPage(ctx, f, k, pageDoc, fm, "")
		})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if rendered || rd.ahead.Load() && rd.ahead.CompareAndSwap(true, false) {
		h.readAhead(f, k+1, fm)
	}
	h.serve(w, r, rd, acceptsGzip(r.Header), immutableCC, varyEncoding, http.StatusOK)
}

// maxReadAhead is how many pages a Handler renders ahead at once.
const maxReadAhead = 2

// readAhead renders full page k of f into the page cache in the background,
// unless it is cached, not full, or maxReadAhead renders are under way. It
// is called when page k-1 was not in the cache, or was itself read ahead
// and is now served for the first time: a consumer catching up reads the
// pages in turn, and so finds the next one rendered while it decodes this
// one, instead of waiting for the render after asking.
func (h *Handler) readAhead(f store.Feed, k uint64, fm format) {
	h.renderAhead(f, k, docKey{feed: f.Name, epoch: f.Epoch, n: k, format: fm}, func(ctx context.Context) (*rendition, error) {
		return h.renderPage(ctx, f, k, pageDoc, fm, "")
	})
}

// renderAhead renders full page k of f into the page cache under key with
// render, in the background, unless it is cached, not full, or
// maxReadAhead renders are under way. The rendition is marked as read
// ahead before it is cached: a request that finds it there, or waits for
// this render, must see the mark to read the page after it ahead in turn.
func (h *Handler) renderAhead(f store.Feed, k uint64, key docKey, render func(context.Context) (*rendition, error)) {
	if k > f.Head/uint64(f.PageSize) || h.cache.Contains(key) {
		return
	}
	select {
	case h.ahead <- struct{}{}:
	default:
		return
	}
	h.aheadMu.Lock()
	if h.aheadDone {
		h.aheadMu.Unlock()
		<-h.ahead
		return
	}
	h.aheadWG.Add(1)
	h.aheadMu.Unlock()
	go func() {
		defer h.aheadWG.Done()
		defer func() { <-h.ahead }()
		_, err := h.cached(h.ctx, key, func(ctx context.Context) (*rendition, error) {
			rd, err := render(ctx)
			if err == nil {
				rd.ahead.Store(true)
			}
			return rd, err
		})
		if err != nil {
			// A request for the page will render it again, and answer
			// the error if it persists.
			h.logger.Debug("publisher: reading ahead failed", "feed", f.Name, "page", k, "key", key.String(), "err", err)
		}
	}()
}

// lookupEntry resolves the URL of one entry, /{feed}/{epoch}/…/{seq} in
// any representation: the feed and the seq of an entry of the epoch the
// URL names; or it answers the request itself (404, or the reset problem)
// and returns false.
func (h *Handler) lookupEntry(w http.ResponseWriter, r *http.Request) (store.Feed, uint64, bool) {
	f, ok := h.lookup(w, r, r.PathValue("feed"))
	if !ok || !h.checkEpoch(w, r, f, entryDoc) {
		return f, 0, false
	}
	seq, ok := parsePos(r.PathValue("seq"))
	if !ok || seq > f.Head {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("feed %q has no entry %q: its entries are 1 to %d", f.Name, r.PathValue("seq"), f.Head))
		return f, 0, false
	}
	return f, seq, true
}

// serveEntry answers GET /{feed}/{epoch}/entries/{seq}.
func (h *Handler) serveEntry(w http.ResponseWriter, r *http.Request) {
	f, seq, ok := h.lookupEntry(w, r)
	if !ok {
		return
	}
	rd, err := h.cached(r.Context(), docKey{feed: f.Name, epoch: f.Epoch, n: seq, entry: true},
		func(ctx context.Context) (*rendition, error) {
			events, err := h.log.Read(ctx, f.Name, seq, seq)
			if err == nil {
				err = contiguous(events, seq, seq)
			}
			if err != nil {
				return nil, fmt.Errorf("publisher: read entry %d of %s: %w", seq, f.Name, err)
			}
			if err := h.sameEpoch(ctx, f); err != nil {
				return nil, err
			}
			return h.renderEntry(f, events[0], entryDoc, true)
		})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.serve(w, r, rd, acceptsGzip(r.Header), immutableCC, varyEncoding, http.StatusOK)
}

// checkEpoch answers 404 for a URL of another epoch of f than the current
// one: with the feed-reset problem when the token is one an epoch could
// be (the feed was reset, and what that URL named is gone), a plain 404
// otherwise (a URL nobody was ever given).
func (h *Handler) checkEpoch(w http.ResponseWriter, r *http.Request, f store.Feed, at docAt) bool {
	epoch := r.PathValue("epoch")
	if epoch == f.Epoch {
		return true
	}
	if !epochLike(epoch, f.Epoch) {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("feed %q has no epoch %q", f.Name, epoch))
		return false
	}
	h.resetProblem(w, r, f, at, epoch)
	return false
}

// resetProblem answers 404 with the feed-reset problem for a URL of epoch,
// which f no longer has.
func (h *Handler) resetProblem(w http.ResponseWriter, r *http.Request, f store.Feed, at docAt, epoch string) {
	current := h.links(f, at).subscription(f.Name)
	h.writeProblem(w, r, problem{
		Type:    eventfeed.ProblemFeedReset,
		Title:   "Feed was reset",
		Status:  http.StatusNotFound,
		Detail:  fmt.Sprintf("feed %q was reset: epoch %q is gone; its current subscription document is %s", f.Name, epoch, current),
		Current: current,
	})
}

// epochLike tells whether tok has the form of an epoch: that of the
// epochs every store of this module makes (16 lower-case hex digits), or
// the length and alphabet of cur, the feed's current epoch, for a Log
// that makes others.
func epochLike(tok, cur string) bool {
	if len(tok) == 16 && lowerHex(tok) {
		return true
	}
	if len(tok) != len(cur) {
		return false
	}
	if lowerHex(cur) {
		return lowerHex(tok)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// serveHead serves the subscription document or the working page at the
// head d: 304 when the client has it, after a long poll when it asks for
// one and mayWait (a request waits once).
func (h *Handler) serveHead(w http.ResponseWriter, r *http.Request, d *headDocs, kind headKind, mayWait bool) {
	fm := formatOf(r)
	c := acceptsGzip(r.Header)
	doc := &d.docs[kind][fm]
	if !h.notModified(r, doc.etag[c][0], time.Time{}) {
		rd, err := h.renderHead(r.Context(), d, kind, fm)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.write(w, r, rd, c, h.headCC, varyEncoding, http.StatusOK)
		return
	}
	wait := preferWait(r.Header)
	if !mayWait || wait <= 0 || h.maxWait < 0 || h.ctx.Err() != nil || len(r.Header["If-None-Match"]) == 0 {
		h.writeNotModified(w, doc.etag[c], h.headCC, varyEncoding)
		return
	}
	applied := min(time.Duration(wait)*time.Second, h.maxWait)
	f, moved, err := h.wait(r.Context(), d.f, applied)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The seconds applied, rounded up: a MaxWait under a second still
	// waited.
	w.Header()["Preference-Applied"] = []string{"wait=" + strconv.Itoa(int((applied+time.Second-1)/time.Second))}
	if !moved {
		h.writeNotModified(w, doc.etag[c], h.headCC, varyEncoding)
		return
	}
	if err := h.checkPageSize(f); err != nil {
		h.refuse(w, r, f, err)
		return
	}
	if kind == subscription {
		h.serveHead(w, r, h.heads(f), subscription, false)
		return
	}
	if h.checkEpoch(w, r, f, pageDoc) {
		// The page may have filled while the request waited: it is an
		// archive then.
		h.servePageK(w, r, f, d.working, false)
	}
}

// wait holds a long poll until the head of f moves past f.Head, d passes,
// the client goes away or the Handler is closed. It reports the feed and
// whether its head moved.
func (h *Handler) wait(ctx context.Context, f store.Feed, d time.Duration) (store.Feed, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	stop := context.AfterFunc(h.ctx, cancel)
	defer stop()
	h.stats.longPolls.Add(1)
	h.stats.waiting.Add(1)
	defer h.stats.waiting.Add(-1)
	nf, err := h.log.Wait(ctx, f.Name, f.Head)
	if err != nil {
		if ctx.Err() != nil {
			return f, false, nil
		}
		return f, false, fmt.Errorf("publisher: wait for %s after %d: %w", f.Name, f.Head, err)
	}
	return nf, true, nil
}

// notModified evaluates If-None-Match, or when absent If-Modified-Since
// (RFC 9110 §13.2.2), against a representation with etag, last modified
// at mod (zero when it has no Last-Modified).
//
// Only entry documents have a Last-Modified. A date cannot tell apart the
// versions of a document that changes several times a second, and an
// event's time is set by its producer, earlier or later than when it was
// stored: the subscription document and the working page, and a full page
// (which was the working page under the same URL before it filled) would
// answer 304 for bytes the client does not hold, and a full page's 304
// carries "immutable". Without a Last-Modified the server has no date to
// compare with and ignores If-Modified-Since (RFC 9110 §13.1.3), so those
// documents are validated by their strong ETags alone. nginx in front
// does the same (it compares If-Modified-Since with a Last-Modified only);
// Varnish compares it with the Date of what it stored (RFC 9111 §4.3.2),
// which matters only to a client that makes its date up from a Date, never
// having been given a Last-Modified. An entry
// URL names one set of bytes from the moment it exists, so a date the
// client holds for it can only be that entry's.
func (h *Handler) notModified(r *http.Request, etag string, mod time.Time) bool {
	if inm := r.Header["If-None-Match"]; len(inm) > 0 {
		return etagMatch(inm, etag)
	}
	if ims := r.Header["If-Modified-Since"]; len(ims) > 0 && !mod.IsZero() {
		t, err := http.ParseTime(ims[0])
		return err == nil && !mod.After(t)
	}
	return false
}

// serve answers with rd, or 304 when the request's conditions say the
// client has it.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rd *rendition, c coding, cc, vary []string, status int) {
	if status == http.StatusOK && h.notModified(r, rd.etag[c][0], rd.modTime) {
		h.writeNotModified(w, rd.etag[c], cc, vary)
		return
	}
	if rd.lastModified != nil {
		w.Header()["Last-Modified"] = rd.lastModified
	}
	h.write(w, r, rd, c, cc, vary, status)
}

// write writes rd in coding c. Its header values are shared slices set
// straight into the map: no allocation, no canonicalization.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, rd *rendition, c coding, cc, vary []string, status int) {
	hdr := w.Header()
	hdr["Content-Type"] = rd.contentType
	hdr["Content-Length"] = rd.length[c]
	hdr["Etag"] = rd.etag[c]
	hdr["Cache-Control"] = cc
	if vary != nil {
		hdr["Vary"] = vary
	}
	if c == gzipped {
		hdr["Content-Encoding"] = gzipCoding
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(rd.body[c])
	}
}

func (h *Handler) writeNotModified(w http.ResponseWriter, etag, cc, vary []string) {
	h.stats.notModified.Add(1)
	hdr := w.Header()
	hdr["Etag"] = etag
	hdr["Cache-Control"] = cc
	hdr["Vary"] = vary
	w.WriteHeader(http.StatusNotModified)
}

// fail answers 500 for err, which is logged and not shown: it may name
// tables, hosts or files.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away: there is no one to answer.
		return
	}
	var reset *resetError
	if errors.As(err, &reset) {
		h.logger.Warn("publisher: feed reset during a request", "method", r.Method, "path", r.URL.Path)
		if epoch := r.PathValue("epoch"); epoch != "" && reset.f.Epoch != "" {
			at := pageDoc
			if r.PathValue("seq") != "" {
				at = entryDoc
			}
			h.resetProblem(w, r, reset.f, at, epoch)
			return
		}
		w.Header()["Retry-After"] = retryNow
		h.problem(w, r, http.StatusServiceUnavailable, "the feed was reset while this document was made; ask again")
		return
	}
	h.logger.Error("publisher: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	h.problem(w, r, http.StatusInternalServerError, "the feed could not be served; the error was logged")
}
