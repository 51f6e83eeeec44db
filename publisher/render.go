package publisher

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/uuid"
	"github.com/eventfeed/eventfeed/store"
)

// A rendition is a document ready to serve: its bytes in each coding and
// every header value that goes with them, made once, so that serving it is
// a few map assignments and one Write.
type rendition struct {
	body         [2][]byte   // by coding
	length       [2][]string // Content-Length, by coding
	etag         [2][]string // ETag, by coding
	contentType  []string
	lastModified []string  // nil when the document has no date
	modTime      time.Time // lastModified, truncated to the second

	// promoted is the page cache's generation when the rendition was last
	// moved to the front of the LRU list (see (*Handler).cached).
	promoted atomic.Uint64
	// ahead says that the rendition was read ahead and not served yet.
	ahead atomic.Bool
}

func (r *rendition) size() int64 { return int64(len(r.body[identity]) + len(r.body[gzipped])) }

// newRendition makes the rendition of body. etag is the quoted strong ETag
// of the identity coding of a head document; "" makes one from a hash of
// body, for an immutable one. The gzip coding's ETag is the same with
// "-gz" inside the quotes: a strong ETag names one sequence of bytes, so
// each coding needs its own (RFC 9110 §8.8.3). Without zip, the rendition
// has the identity coding only, for an answer that is sent once and not
// kept.
//
// Documents are compressed at gzip.BestSpeed. Measured on a page of 100
// entries (84 KB) and one of 500: BestSpeed takes half the time of the
// default level (0.97 against 1.92 ms for the less repetitive page) for
// 11-13% more bytes; at the default level compression was about half of
// the publisher's CPU while a consumer caught up on pages not yet cached,
// and a head document is made again after every append. The compressor is
// github.com/klauspost/compress's, whose gzip is the standard format: a
// page of 500 entries renders 10% faster with it than with compress/gzip
// (BenchmarkWorkingPageRender, 2.22 -> 1.99 ms, p=0.002) for 7% more
// bytes, and the pages of an encrypted feed, whose ciphertext does not
// compress, 1.5 times as fast.
func (h *Handler) newRendition(body []byte, contentType []string, etag string, mod time.Time, zip bool) *rendition {
	r := &rendition{contentType: contentType}
	r.body[identity] = body
	if etag == "" {
		sum := sha256.Sum256(body)
		etag = `"` + hex.EncodeToString(sum[:12]) + `"`
	}
	r.etag[identity] = []string{etag}
	if zip {
		r.body[gzipped] = h.compress(body)
		r.etag[gzipped] = []string{gzipETag(etag)}
	}
	for c := range r.body {
		r.length[c] = []string{strconv.Itoa(len(r.body[c]))}
	}
	if !mod.IsZero() {
		// Never later than now (RFC 9110 §8.8.2.1): an event's time is its
		// producer's, and may lie ahead.
		if now := time.Now(); mod.After(now) {
			mod = now
		}
		mod = mod.Truncate(time.Second)
		r.modTime = mod
		r.lastModified = []string{mod.UTC().Format(http.TimeFormat)}
	}
	h.stats.renders.Add(1)
	return r
}

func gzipETag(etag string) string { return etag[:len(etag)-1] + `-gz"` }

// compress returns body gzipped, with a writer from the Handler's pool
// (each holds several hundred KB of compressor state).
func (h *Handler) compress(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body)/4 + 64)
	zw, _ := h.gzipPool.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	} else {
		zw.Reset(&buf)
	}
	zw.Write(body) // a bytes.Buffer does not fail
	zw.Close()
	h.gzipPool.Put(zw)
	return buf.Bytes()
}

// docKey names an immutable document in the page cache: a full page or an
// entry of one epoch of a feed, in one format. Hashing and comparing it
// allocate nothing.
type docKey struct {
	feed, epoch string
	n           uint64 // page number or seq
	entry       bool
	format      format
}

func (k docKey) String() string {
	kind := "p"
	if k.entry {
		kind = "e"
	}
	return k.feed + "/" + k.epoch + "/" + kind + strconv.FormatUint(k.n, 10) + "/" + strconv.Itoa(int(k.format))
}

// cached returns the rendition of key from the page cache, or renders it
// with render, once however many requests miss at the same time, and
// caches it.
//
// Hits use the cache's Peek, which takes a read lock, instead of Get,
// which takes the write lock to move the entry to the front: under
// concurrent load that lock would be the one point every request of every
// core goes through. To keep the eviction order close to LRU, a hit still
// promotes its entry with Get when anything was added to the cache since
// it was last promoted, which is rare while the cache is warm.
func (h *Handler) cached(ctx context.Context, key docKey, render func(context.Context) (*rendition, error)) (*rendition, error) {
	if r, ok := h.cache.Peek(key); ok {
		h.stats.cacheHits.Add(1)
		if gen := h.cacheGen.Load(); r.promoted.Load() != gen {
			r.promoted.Store(gen)
			h.cache.Get(key)
		}
		return r, nil
	}
	h.stats.cacheMisses.Add(1)
	v, err, _ := h.flight.Do(key.String(), func() (any, error) {
		if r, ok := h.cache.Peek(key); ok {
			return r, nil
		}
		// The render serves every request waiting on it: one client going
		// away must not fail the others.
		r, err := render(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		r.promoted.Store(h.cacheGen.Add(1))
		h.cacheMu.Lock()
		h.cacheBytes += r.size()
		h.cache.Add(key, r)
		for h.cacheBytes > h.maxBytes && h.cache.Len() > 1 {
			h.cache.RemoveOldest()
		}
		h.cacheMu.Unlock()
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*rendition), nil
}

// headDocs are the documents of a feed at one head: the subscription
// document and the working page, each in every format, rendered on first
// use. Their ETags are derived from the head, so that a request whose
// If-None-Match names the current head is answered 304 without rendering
// or reading anything.
type headDocs struct {
	f       store.Feed
	working uint64                 // the working page's number
	docs    [2][numFormats]headDoc // by headKind, format
}

type headKind uint8

const (
	subscription headKind = iota
	workingPage
)

type headDoc struct {
	etag [2][]string // by coding
	mu   sync.Mutex
	r    atomic.Pointer[rendition]
}

func (h *Handler) newHeadDocs(f store.Feed) *headDocs {
	d := &headDocs{f: f, working: f.Head/uint64(f.PageSize) + 1}
	// "epoch.head.fingerprint.kind format": the same on every instance
	// serving the same log with the same Config.
	base := `"` + f.Epoch + "." + strconv.FormatUint(f.Head, 10) + "." + h.fingerprint + "."
	for k := range d.docs {
		for fm := range d.docs[k] {
			tag := base + string("sw"[k]) + string("arj"[fm]) + `"`
			d.docs[k][fm].etag = [2][]string{{tag}, {gzipETag(tag)}}
		}
	}
	return d
}

// render returns the rendition of the document kind in format fm, rendering
// it if no request has yet. Concurrent requests wait for the one render.
func (h *Handler) renderHead(ctx context.Context, d *headDocs, kind headKind, fm format) (*rendition, error) {
	doc := &d.docs[kind][fm]
	if r := doc.r.Load(); r != nil {
		return r, nil
	}
	doc.mu.Lock()
	defer doc.mu.Unlock()
	if r := doc.r.Load(); r != nil {
		return r, nil
	}
	at := pageDoc
	if kind == subscription {
		at = subscriptionDoc
	}
	r, err := h.renderPage(context.WithoutCancel(ctx), d.f, d.working, at, fm, doc.etag[identity][0])
	if err != nil {
		return nil, err
	}
	doc.r.Store(r)
	return r, nil
}

// docAt says where a document is served, which decides its relative links.
type docAt uint8

const (
	serviceDoc      docAt = iota // /
	subscriptionDoc              // /{feed}
	pageDoc                      // /{feed}/{epoch}/pages/{k}
	entryDoc                     // /{feed}/{epoch}/entries/{seq}
	altSubDoc                    // /{feed}/rss, /{feed}/json
	altPageDoc                   // /{feed}/{epoch}/rss/{k}, …/json/{k}
)

// linker makes the hrefs of one document. With a BaseURL they are absolute
// (or absolute paths); without, they are relative to the document's own
// URL: never built from the request, so that no Host header can end up in
// a document that caches keep forever.
type linker struct {
	root  string // prefix of a subscription URL
	epoch string // prefix of the URLs of the feed's epoch: pages, entries
	dir   string // the directory of the epoch the document is in, if any
}

// links returns the linker of a document of f served at at. For an
// alternate page (altPageDoc), the caller sets dir to its format's.
func (h *Handler) links(f store.Feed, at docAt) linker {
	epoch := url.PathEscape(f.Epoch) + "/"
	if h.base != "" {
		return linker{root: h.base, epoch: h.base + f.Name + "/" + epoch}
	}
	switch at {
	case pageDoc:
		return linker{root: "../../../", epoch: "../", dir: "pages"}
	case entryDoc:
		return linker{root: "../../../", epoch: "../", dir: "entries"}
	case altPageDoc:
		// The format's directory is set by in.
		return linker{root: "../../../", epoch: "../"}
	case altSubDoc:
		return linker{root: "../", epoch: epoch}
	default:
		return linker{root: "", epoch: f.Name + "/" + epoch}
	}
}

// under returns the prefix of the URLs in the epoch's directory dir:
// nothing when the document is in it.
func (l linker) under(dir string) string {
	if l.dir == dir {
		return ""
	}
	return l.epoch + dir + "/"
}

func (l linker) subscription(name string) string { return l.root + name }
func (l linker) page(k uint64) string            { return l.under("pages") + strconv.FormatUint(k, 10) }
func (l linker) entry(seq uint64) string         { return l.under("entries") + strconv.FormatUint(seq, 10) }

// in returns the linker's URLs of the feed documents in format fm.
func (l linker) in(fm format) formatLinker { return formatLinker{l, fm} }

// formatLinker makes the URLs of the feed documents of one format.
type formatLinker struct {
	linker
	fm format
}

func (l formatLinker) subscription(name string) string {
	if l.fm == formatAtom {
		return l.linker.subscription(name)
	}
	return l.root + name + "/" + formatSegment[l.fm]
}

func (l formatLinker) page(k uint64) string {
	if l.fm == formatAtom {
		return l.linker.page(k)
	}
	return l.under(formatSegment[l.fm]) + strconv.FormatUint(k, 10)
}

// feedID is the atom:id shared by every document of one epoch of a feed:
// a name-based (version 5) UUID, stable across restarts and instances and
// different for a feed that was reset.
func feedID(f store.Feed) string {
	return uuid.NameURN(uuid.NamespaceURL, feed.NSEventfeed+"/feeds/"+f.Name+"/"+f.Epoch)
}

func (h *Handler) feedTitle(name string) string {
	if h.cfg.Title == "" {
		return name
	}
	return h.cfg.Title + ": " + name
}

// renderPage renders page k of f, as the subscription document or as the
// page itself. A page is full when the head has reached its last seq: it
// is then an archive (fh:archive) linking to the next page, which may be
// the empty working page. etag is the ETag to give a working page (and
// the subscription document); full pages get a hash of their bytes.
func (h *Handler) renderPage(ctx context.Context, f store.Feed, k uint64, at docAt, fm format, etag string) (*rendition, error) {
	defer h.stats.timeRender(time.Now())
	n := uint64(f.PageSize)
	from, to := (k-1)*n+1, min(k*n, f.Head)
	full := f.Head >= k*n
	var events []eventfeed.Event
	if from <= to {
		var err error
		if events, err = h.log.Read(ctx, f.Name, from, to); err != nil {
			return nil, fmt.Errorf("publisher: read page %d of %s: %w", k, f.Name, err)
		}
		if err := contiguous(events, from, to); err != nil {
			return nil, fmt.Errorf("publisher: read page %d of %s: %w", k, f.Name, err)
		}
		if err := h.sameEpoch(ctx, f); err != nil {
			return nil, err
		}
	}
	if fm != formatAtom {
		at = altDocAt[at]
	}
	l := h.links(f, at)
	if at == altPageDoc && h.base == "" {
		l.dir = formatSegment[fm]
	}
	fl := l.in(fm)
	doc := &feed.Feed{
		ID:      feedID(f),
		Title:   h.feedTitle(f.Name),
		Updated: f.Updated,
		Authors: h.authors,
		Entries: make([]feed.Entry, len(events)),
	}
	if len(events) > 0 {
		doc.Updated = events[0].Time
	}
	for i := range events {
		e := feed.EntryFromEvent(events[i], h.cfg.EntryOptions)
		e.Links = keyLink([]feed.Link{{Rel: feed.RelSelf, Href: l.entry(events[i].Seq)}}, l, f, &events[i])
		doc.Entries[i] = e
		if e.Updated.After(doc.Updated) {
			doc.Updated = e.Updated
		}
	}
	sub := fl.subscription(f.Name)
	if at == subscriptionDoc || at == altSubDoc {
		doc.Links = append(doc.Links,
			feed.Link{Rel: feed.RelSelf, Href: sub},
			feed.Link{Rel: feed.RelCurrent, Href: sub},
			feed.Link{Rel: feed.RelVia, Href: fl.page(k)},
			feed.Link{Rel: feed.RelFirst, Href: fl.page(1)})
	} else {
		doc.Links = append(doc.Links,
			feed.Link{Rel: feed.RelSelf, Href: fl.page(k)},
			feed.Link{Rel: feed.RelCurrent, Href: sub})
		doc.Archive = full
	}
	if k > 1 {
		doc.Links = append(doc.Links, feed.Link{Rel: feed.RelPrevArchive, Href: fl.page(k - 1)})
	}
	if full && at != subscriptionDoc && at != altSubDoc {
		doc.Links = append(doc.Links, feed.Link{Rel: feed.RelNextArchive, Href: fl.page(k + 1)})
	}
	if fm == formatAtom {
		doc.Links = h.appendAlternates(doc.Links, l, f.Name, k, at == subscriptionDoc)
		if at == subscriptionDoc {
			doc.Links = append(doc.Links, feed.Link{Rel: feed.RelAlternate, Type: MediaTypeCloudEventsBatch, Href: h.httpFeedLink(f, at)})
		}
		if h.cfg.Browse {
			doc.Links = append(doc.Links, feed.Link{Rel: feed.RelAlternate, Type: "text/html", Href: h.htmlAlternate(f, at, at, k)})
		}
	}

	var buf bytes.Buffer
	var err error
	switch fm {
	case formatRSS:
		err = feed.EncodeRSS(&buf, doc)
	case formatJSON:
		err = feed.EncodeJSONFeed(&buf, doc)
	default:
		err = feed.Encode(&buf, doc)
	}
	if err != nil {
		return nil, fmt.Errorf("publisher: render page %d of %s: %w", k, f.Name, err)
	}
	h.logger.Debug("publisher: rendered page", "feed", f.Name, "page", k, "full", full, "entries", len(events))
	// No Last-Modified: a page URL names other bytes as the page fills,
	// several times within one second, and the times of its entries are
	// their producers' (see (*Handler).notModified).
	return h.newRendition(buf.Bytes(), contentTypes[fm], etag, time.Time{}, true), nil
}

// renderEntry renders the entry document of ev, with links for a document
// served at at; zip says whether to make its gzip coding too.
func (h *Handler) renderEntry(f store.Feed, ev eventfeed.Event, at docAt, zip bool) (*rendition, error) {
	defer h.stats.timeRender(time.Now())
	e := feed.EntryFromEvent(ev, h.cfg.EntryOptions)
	e.Authors = h.authors
	l := h.links(f, at)
	e.Links = keyLink([]feed.Link{{Rel: feed.RelSelf, Href: l.entry(ev.Seq)}}, l, f, &ev)
	if h.cfg.Browse {
		e.Links = append(e.Links, feed.Link{Rel: feed.RelAlternate, Type: "text/html", Href: h.htmlAlternate(f, at, entryDoc, ev.Seq)})
	}
	var buf bytes.Buffer
	if err := feed.EncodeEntry(&buf, &e); err != nil {
		return nil, fmt.Errorf("publisher: render entry %d of %s: %w", ev.Seq, f.Name, err)
	}
	return h.newRendition(buf.Bytes(), entryType, "", ev.Time, zip), nil
}

// resetError reports that the log of a feed was wiped and rebuilt while
// a document of its old epoch was being rendered.
type resetError struct {
	f store.Feed // the feed now, of another epoch (zero when it is gone)
}

func (e *resetError) Error() string {
	return fmt.Sprintf("publisher: feed %q was reset while a document was rendered", e.f.Name)
}

func (e *resetError) Unwrap() error { return eventfeed.ErrFeedReset }

// sameEpoch checks, after events of f were read, that the log still holds
// f's epoch. A Log reads by feed name: had the log been wiped and rebuilt
// since f was looked up, the events would be the new epoch's, and the
// document rendered from them would be cached, here and by every cache on
// the way, under a URL of the old one. Epochs are random, so a log that
// has f's epoch after the read had it during the read.
func (h *Handler) sameEpoch(ctx context.Context, f store.Feed) error {
	now, err := h.log.Feed(ctx, f.Name)
	switch {
	case errors.Is(err, eventfeed.ErrFeedNotFound):
		return &resetError{f: store.Feed{Name: f.Name}}
	case err != nil:
		return fmt.Errorf("publisher: check the epoch of %s: %w", f.Name, err)
	case now.Epoch != f.Epoch:
		return &resetError{f: now}
	}
	return nil
}

// contiguous checks that a Log returned exactly the seqs from..to: a
// document with a gap would be cached forever.
func contiguous(events []eventfeed.Event, from, to uint64) error {
	if uint64(len(events)) != to-from+1 {
		return fmt.Errorf("store returned %d events for seqs %d..%d", len(events), from, to)
	}
	for i, ev := range events {
		if ev.Seq != from+uint64(i) {
			return fmt.Errorf("store returned seq %d at position of %d", ev.Seq, from+uint64(i))
		}
	}
	return nil
}

var (
	contentTypes = [numFormats][]string{
		formatAtom: {feed.MediaTypeFeed},
		formatRSS:  {feed.MediaTypeRSS},
		formatJSON: {feed.MediaTypeJSONFeed},
	}
	entryType   = []string{feed.MediaTypeEntry}
	serviceType = []string{feed.MediaTypeService}
)
