package poller

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
)

// accept is the Accept header of every request: Atom first, then the
// generic XML types some servers label feeds with.
const accept = "application/atom+xml, application/xml;q=0.9, text/xml;q=0.8"

// userAgent names the Poller to the servers it polls.
const userAgent = "eventfeed-poller/1"

// maxProblemBytes bounds how much of an error response is read.
const maxProblemBytes = 64 << 10

// parseAbs parses an absolute http(s) URL, dropping its fragment.
func parseAbs(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute URL", s)
	}
	u.Fragment = ""
	u.RawFragment = ""
	return u, nil
}

// fetchPage returns the page at rawURL, from the page cache when it holds
// it (archives only), else fetched with retries.
func (p *Poller) fetchPage(ctx context.Context, rawURL string) (*page, error) {
	return p.fetchPageAhead(ctx, rawURL, nil)
}

// fetchPageAhead is fetchPage that, when ahead is not nil, calls it with
// the URL of the page's successor (see page.successor) as soon as the
// page's links tell it: before its entries are decoded, when the links
// come first. It may be called again when the request is retried, and
// is not called when the links name no successor. It only announces:
// the page returned is what counts.
func (p *Poller) fetchPageAhead(ctx context.Context, rawURL string, ahead func(next string)) (*page, error) {
	if pg, ok := p.cache.get(rawURL); ok {
		p.count(func(s *Stats) { s.CacheHits++ })
		if next := pg.successor(); ahead != nil && next != "" {
			ahead(next)
		}
		return pg, nil
	}
	pg, err := p.fetchRetry(ctx, rawURL, "", 0, ahead)
	if err != nil {
		return nil, err
	}
	if pg.notModified {
		return nil, fmt.Errorf("poller: GET %s: 304 Not Modified to an unconditional request", rawURL)
	}
	p.cache.add(pg)
	return pg, nil
}

// fetchRetry fetches rawURL, retrying failures worth retrying with backoff
// until ctx ends. etag and wait make it a conditional request and a long
// poll; ahead is fetchPageAhead's.
func (p *Poller) fetchRetry(ctx context.Context, rawURL, etag string, wait time.Duration, ahead func(string)) (*page, error) {
	var first time.Time // of the failures in a row
	for attempt := 0; ; attempt++ {
		pg, err := p.fetchOnce(ctx, rawURL, etag, wait, ahead)
		if err == nil && len(pg.srcs) > 0 {
			err = p.fetchContents(ctx, pg)
		}
		if err == nil {
			now := time.Now()
			p.count(func(s *Stats) {
				s.LastPoll = now
				if !pg.notModified {
					s.Pages++
				}
			})
			return pg, nil
		}
		if err := p.retryLater(ctx, err, attempt, &first, "fetch", rawURL); err != nil {
			return nil, err // counted by Sync or Run
		}
	}
}

// retryLater waits before attempt+1 of a request that failed with err,
// counting the retry, when err is worth retrying (a *retryable); first
// is the time of the first failure in a row, set on the first call. It
// returns the error to stop with instead: err itself when not worth
// retrying, ErrGaveUp past Config.MaxRetryTime, or the context's.
func (p *Poller) retryLater(ctx context.Context, err error, attempt int, first *time.Time, what, url string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var r *retryable
	if !errors.As(err, &r) {
		return err
	}
	d := p.backoff(attempt)
	if r.after > d {
		d = min(r.after, max(maxRetryAfter, p.cfg.Backoff.Max))
	}
	if first.IsZero() {
		*first = time.Now()
	}
	if err := p.giveUp(*first, d, attempt, r.err); err != nil {
		return err
	}
	p.noteError(r.err, what+" failed; retrying", "url", url, "in", d)
	p.count(func(s *Stats) { s.Retries++ })
	return sleep(ctx, d)
}

// fetchContents fetches the out-of-line content of pg's entries (atom:content
// with src), under the rules of the pages: the same origins, redirects,
// body size and retries. An entry whose content cannot be had (a 4xx, a
// link to another origin, too large) is recorded in pg.failed: the
// entries before it are applied, and it stops the feed or, with
// Config.DeadLetter, is parked. Errors worth retrying are returned.
func (p *Poller) fetchContents(ctx context.Context, pg *page) error {
	for i := range pg.events {
		ev := &pg.events[i]
		src, ok := pg.srcs[ev.ID]
		if !ok {
			continue
		}
		data, ct, err := p.fetchContent(ctx, src)
		var r *retryable
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &r):
			return err
		case err != nil:
			if pg.failed == nil {
				pg.failed = make(map[string]error)
			}
			pg.failed[ev.ID] = fmt.Errorf("%w: entry %s: content at %s: %w", ErrInvalidEntry, ev.ID, src, err)
			continue
		}
		ev.Data = data
		if ev.ContentType == "" {
			ev.ContentType = ct
		}
		pg.size += int64(len(data))
	}
	pg.srcs = nil
	return nil
}

// fetchContent makes one GET of an out-of-line content's URL and returns
// the body and its media type. Errors worth retrying are *retryable.
func (p *Poller) fetchContent(ctx context.Context, src string) ([]byte, string, error) {
	u, err := parseAbs(src)
	if err != nil {
		return nil, "", fmt.Errorf("bad URL: %w", err)
	}
	if err := p.checkOrigin(u); err != nil {
		return nil, "", err
	}
	rctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := p.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrCrossOrigin) || errors.Is(err, ErrTooManyRedirects) {
			return nil, "", unwrapURLError(err)
		}
		return nil, "", &retryable{err: err}
	}
	defer resp.Body.Close()
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, "", &retryable{err: httpError(resp, u), after: retryAfter(resp.Header, time.Now())}
	default:
		return nil, "", httpError(resp, u)
	}
	limit := p.cfg.MaxBodyBytes
	if resp.ContentLength > limit {
		return nil, "", fmt.Errorf("%w: Content-Length %d, limit %d", feed.ErrTooLarge, resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, "", &retryable{err: fmt.Errorf("GET %s: reading body: %w", u.Redacted(), err)}
	case int64(len(data)) > limit:
		return nil, "", fmt.Errorf("%w: more than %d bytes", feed.ErrTooLarge, limit)
	}
	return data, resp.Header.Get("Content-Type"), nil
}

// giveUp returns the error that ends retries when waiting d more after
// failures since first would pass Config.MaxRetryTime, else nil. err is
// the last failure, attempt the number of retries so far.
func (p *Poller) giveUp(first time.Time, d time.Duration, attempt int, err error) error {
	if p.cfg.MaxRetryTime <= 0 || time.Since(first)+d <= p.cfg.MaxRetryTime {
		return nil
	}
	return fmt.Errorf("%w after %d attempts in %v: %w", ErrGaveUp, attempt+1, time.Since(first).Round(time.Millisecond), err)
}

// backoff returns the wait before retry n (0-based): Min·2ⁿ capped at Max,
// of which a random half is jitter.
func (p *Poller) backoff(n int) time.Duration {
	b := p.cfg.Backoff
	d := b.Max
	if n < 40 {
		if x := b.Min << n; x > 0 && x < b.Max {
			d = x
		}
	}
	return d/2 + rand.N(d/2+1)
}

// fetchOnce makes one GET of rawURL. Errors worth retrying are *retryable.
func (p *Poller) fetchOnce(ctx context.Context, rawURL, etag string, wait time.Duration, ahead func(string)) (*page, error) {
	u, err := parseAbs(rawURL)
	if err != nil {
		return nil, fmt.Errorf("poller: bad URL: %w", err)
	}
	if err := p.checkOrigin(u); err != nil {
		return nil, err
	}
	long := wait > 0 && etag != ""
	timeout := p.cfg.RequestTimeout
	if long {
		timeout += wait
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("poller: %w", err)
	}
	req.Header.Set("Accept", accept)
	// Asking for gzip ourselves turns off the Transport's transparent
	// decompression, which could not be bounded: the body limit must
	// apply to the decompressed bytes, or a small gzip bomb would do.
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", userAgent)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if long {
		n := strconv.Itoa(int((wait + time.Second - 1) / time.Second))
		req.Header.Set("Prefer", "wait="+n)
		// EventStoreDB holds a request by a header of its own.
		req.Header.Set("ES-LongPoll", n)
	}
	start := time.Now()
	resp, err := p.do(ctx, req, u)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	pg := &page{url: u.String(), etag: resp.Header.Get("ETag"), maxAge: maxAge(resp.Header)}
	if long {
		if n, ok := waitApplied(resp.Header); ok {
			// A 304 that comes back well before the wait it claims to
			// have applied was not held: poll at intervals after it.
			pg.waited = resp.StatusCode != http.StatusNotModified || time.Since(start) >= n/2
		}
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusNotModified && etag != "":
		pg.notModified = true
		return pg, nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return nil, &retryable{err: httpError(resp, u), after: retryAfter(resp.Header, time.Now())}
	case code >= 500:
		return nil, &retryable{err: httpError(resp, u)}
	default:
		return nil, httpError(resp, u)
	}
	ct := resp.Header.Get("Content-Type")
	sniff, err := checkContentType(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNotAFeed, u.Redacted(), err)
	}
	lr, release, err := p.openBody(ctx, resp, u)
	if err != nil {
		return nil, err
	}
	defer release()
	doc, err := prepare(lr, ct, sniff)
	if err != nil {
		if lr.err != nil {
			return nil, &retryable{err: fmt.Errorf("poller: GET %s: reading body: %w", u.Redacted(), lr.err)}
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrNotAFeed, u.Redacted(), err)
	}
	if err := p.decode(pg, resp.Request.URL, doc, ahead); err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case lr.err != nil && errors.Is(lr.err, feed.ErrTooLarge):
			return nil, fmt.Errorf("poller: GET %s: %w: more than %d bytes", u.Redacted(), feed.ErrTooLarge, p.cfg.MaxBodyBytes)
		case lr.err != nil:
			// The body broke off: a reset connection, a short
			// Content-Length, a corrupt gzip stream, a timeout.
			return nil, &retryable{err: fmt.Errorf("poller: GET %s: reading body: %w", u.Redacted(), lr.err)}
		case truncated(err):
			return nil, &retryable{err: fmt.Errorf("poller: GET %s: %w", u.Redacted(), err)}
		case errors.Is(err, feed.ErrNotAtom):
			return nil, fmt.Errorf("%w: %s: %w", ErrNotAFeed, u.Redacted(), err)
		case errors.Is(err, ErrInvalidEntry), errors.Is(err, ErrUnsupportedFeed):
			return nil, err
		}
		return nil, fmt.Errorf("poller: GET %s: %w", u.Redacted(), err)
	}
	pg.size = lr.read
	return pg, nil
}

// gunzip returns a gzip reader of r, one used before when there is one:
// a new reader allocates its window and tables, larger than many pages.
// It is github.com/klauspost/compress's, which inflates a page of 500
// entries 1.35 to 1.4 times as fast as compress/gzip (77 -> 106 MB/s of
// compressed input on JSON, 115 -> 159 on the pages of an encrypted feed).
// The caller puts it back in p.gzips when done with it.
func (p *Poller) gunzip(r io.Reader) (*gzip.Reader, error) {
	zr, ok := p.gzips.Get().(*gzip.Reader)
	if !ok {
		return gzip.NewReader(r)
	}
	if err := zr.Reset(r); err != nil {
		return nil, err
	}
	return zr, nil
}

// decode reads the feed document in r into pg, resolving its links against
// base, the URL it came from, and the xml:base attributes in scope. ahead,
// when not nil, is told the successor the links read before the first
// entry name (see fetchPageAhead).
func (p *Poller) decode(pg *page, base *url.URL, r io.Reader, ahead func(string)) error {
	n := 0
	noContent := "" // the ID of an entry without content, for paged feeds
	pg.events = make([]eventfeed.Event, 0, p.entries.Load())
	opt := feed.DecodeOptions{MaxBytes: p.cfg.MaxBodyBytes, Base: base}
	if ahead != nil {
		opt.Head = func(h *feed.Feed) {
			head := page{url: pg.url}
			if head.setLinks(base, h.Links) != nil {
				return // decode reports it
			}
			head.setKind(h.Archive)
			next := head.next
			if head.paged {
				next = head.newer
			}
			if next != "" {
				ahead(next)
			}
		}
	}
	dir := docDir(base)
	f, err := feed.Decode(r, opt, func(e *feed.Entry) error {
		n++
		if e.ID == "" {
			return fmt.Errorf("%w: entry %d of %s has no atom:id", ErrInvalidEntry, n, pg.url)
		}
		if c := &e.Content; noContent == "" && c.Src == "" && c.Type == "" && len(c.Body) == 0 {
			noContent = e.ID
		}
		ev, err := e.Event(p.feedName)
		p.noteKeyLink(e, base, dir)
		switch {
		case errors.Is(err, feed.ErrOutOfLineContent):
			// Fetched once the page is read (fetchContents).
			if pg.srcs == nil {
				pg.srcs = make(map[string]string)
			}
			src := strings.TrimSpace(e.Content.Src) // absolute when under an xml:base
			if ref, err := url.Parse(src); err == nil {
				src = base.ResolveReference(ref).String()
			}
			pg.srcs[ev.ID] = src
			ev.ContentType = e.Content.Type
		case err != nil:
			return fmt.Errorf("%w: %s: %w", ErrInvalidEntry, pg.url, err)
		}
		// Entry.Event's strings and Data are not reused by Decode: the
		// event may be kept as it is.
		pg.events = append(pg.events, ev)
		return nil
	})
	if err != nil {
		return err
	}
	if err := pg.setLinks(base, f.Links); err != nil {
		return err
	}
	p.entries.Store(int64(len(pg.events)))
	if cap(pg.events) > 2*len(pg.events)+16 {
		// Fewer entries than the last page had, such as a head page
		// after full archives: do not keep the room for them.
		pg.events = slices.Clone(pg.events)
	}
	pg.setKind(f.Archive)
	if pg.seq = sortBySeq(pg.events); !pg.seq && pg.paged && len(pg.events) > 0 {
		if err := p.numberPaged(pg); err != nil {
			return err
		}
	}
	if !pg.seq {
		pg.dir = direction(pg.events)
	}
	if pg.paged && noContent != "" {
		return fmt.Errorf("%w: entry %s of %s carries no content: ask for it in the feed "+
			"(EventStoreDB: follow the stream's URL with ?embed=body)", ErrUnsupportedFeed, noContent, pg.url)
	}
	if _, hi := pg.seqRange(); hi > 0 {
		p.mu.Lock()
		p.maxSeq = max(p.maxSeq, hi)
		p.mu.Unlock()
	}
	return nil
}

// numberPaged orders the entries of pg, a page of a paged feed without
// ef:seq, by the number that ends their IDs: EventStoreDB's entries are
// {stream URL}/{event number}, and the paging links promise no order by
// themselves. Entries become events with Seq number+1. A page whose
// entries are not so numbered, or leave their content out, is refused.
func (p *Poller) numberPaged(pg *page) error {
	prefix := ""
	for i := range pg.events {
		ev := &pg.events[i]
		j := strings.LastIndexByte(ev.ID, '/')
		num := ev.ID[j+1:]
		if i == 0 {
			prefix = ev.ID[:j+1]
		}
		n, err := strconv.ParseUint(num, 10, 63)
		if j < 0 || ev.ID[:j+1] != prefix || err != nil || strconv.FormatUint(n, 10) != num {
			return fmt.Errorf("%w: %s is a paged feed (RFC 5005 §3: first, last, previous, next links), whose links promise no order, "+
				"and its entries carry neither ef:seq nor numbered IDs ({stream}/{number}, as EventStoreDB writes them) "+
				"to order them by: entry %s", ErrUnsupportedFeed, pg.url, ev.ID)
		}
		ev.Seq = n + 1
	}
	pg.seq = sortBySeq(pg.events)
	return nil
}

// checkContentType accepts the media types feeds are served with, and a
// missing one (the decoder then tells). It reports whether the body must
// be sniffed: raw file hosts and object stores serve Atom as text/plain
// or application/octet-stream.
func checkContentType(ct string) (sniff bool, err error) {
	if ct == "" {
		return false, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Errorf("bad Content-Type %q: %w", ct, err)
	}
	switch mt {
	case "application/atom+xml", "application/xml", "text/xml":
		return false, nil
	case "text/plain", "application/octet-stream":
		return true, nil
	}
	return false, fmt.Errorf("Content-Type is %s", mt)
}

// sniffBytes is how much of a body prepare looks at.
const sniffBytes = 1024

// prepare returns the document in r as UTF-8: a body in ISO-8859-1 or
// windows-1252 (by the Content-Type's charset, else the XML declaration's
// encoding) is decoded, its declaration rewritten to say UTF-8. With
// sniff, the body must start as an Atom feed does (an XML declaration,
// comments, then a feed element), or it is refused.
func prepare(r io.Reader, ct string, sniff bool) (io.Reader, error) {
	br := bufio.NewReaderSize(r, sniffBytes)
	head, _ := br.Peek(sniffBytes) // a short body: the decoder tells
	if sniff && !looksLikeFeed(head) {
		mt, _, _ := mime.ParseMediaType(ct)
		return nil, fmt.Errorf("Content-Type is %s and the body does not start as an Atom feed", mt)
	}
	_, params, _ := mime.ParseMediaType(ct)
	declEnd := 0
	enc := params["charset"]
	if bytes.HasPrefix(head, []byte("<?xml")) {
		if i := bytes.Index(head, []byte("?>")); i > 0 {
			declEnd = i + 2
			if enc == "" {
				enc = string(xmlEncoding(head[:declEnd]))
			}
		}
	}
	var cm *charmap.Charmap
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return br, nil
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "iso_8859-1":
		cm = charmap.ISO8859_1
	case "windows-1252", "cp1252", "x-cp1252":
		cm = charmap.Windows1252
	default:
		return nil, fmt.Errorf("encoding %q is not supported (UTF-8, ISO-8859-1, windows-1252)", enc)
	}
	decl := []byte(`<?xml version="1.0" encoding="UTF-8"?>`)
	if declEnd > 0 {
		if _, err := br.Discard(declEnd); err != nil {
			return nil, err
		}
	}
	return io.MultiReader(bytes.NewReader(decl), transform.NewReader(br, cm.NewDecoder())), nil
}

// xmlEncoding returns the encoding pseudo-attribute of an XML declaration.
func xmlEncoding(decl []byte) []byte {
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	rest, ok := bytes.CutPrefix(rest, []byte("="))
	if !ok {
		return nil
	}
	rest = bytes.TrimLeft(rest, " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' && rest[0] != '\'' {
		return nil
	}
	q := rest[0]
	end := bytes.IndexByte(rest[1:], q)
	if end < 0 {
		return nil
	}
	return rest[1 : 1+end]
}

// looksLikeFeed reports whether head starts as an Atom feed document: an
// optional byte order mark, XML declaration, comments, processing
// instructions and white space, then a feed element (with any prefix).
func looksLikeFeed(head []byte) bool {
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			i := bytes.Index(b, []byte("?>"))
			if i < 0 {
				return false
			}
			b = b[i+2:]
		case bytes.HasPrefix(b, []byte("<!--")):
			i := bytes.Index(b, []byte("-->"))
			if i < 0 {
				return false
			}
			b = b[i+3:]
		case bytes.HasPrefix(b, []byte("<")):
			name := b[1:]
			if i := bytes.IndexAny(name, " \t\r\n/>"); i >= 0 {
				name = name[:i]
			}
			if j := bytes.IndexByte(name, ':'); j >= 0 {
				name = name[j+1:]
			}
			return string(name) == "feed"
		default:
			return false
		}
	}
}

// truncated reports a decode error that says the document ended early: a
// body cut off without a transport error (a server that died mid-write
// with chunked encoding and no trailer looks like this).
func truncated(err error) bool {
	var se *feed.SyntaxError
	if !errors.As(err, &se) {
		return errors.Is(err, io.ErrUnexpectedEOF)
	}
	msg := se.Err.Error()
	return errors.Is(se.Err, io.ErrUnexpectedEOF) || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "unexpected end of document")
}

// limitReader reads at most n bytes from r, failing with feed.ErrTooLarge
// past them, and records the first error of r other than io.EOF.
type limitReader struct {
	r    io.Reader
	n    int64
	read int64
	err  error
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.read >= l.n {
		// Read one more byte to tell an exact fit from an overflow.
		var one [1]byte
		k, err := l.r.Read(one[:])
		if k > 0 {
			l.err = feed.ErrTooLarge
			return 0, l.err
		}
		if err != nil && err != io.EOF {
			l.err = err
		}
		return 0, err
	}
	if rest := l.n - l.read; int64(len(b)) > rest {
		b = b[:rest]
	}
	k, err := l.r.Read(b)
	l.read += int64(k)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return k, err
}

// httpError makes the *HTTPError of resp, reading its problem detail.
func httpError(resp *http.Response, u *url.URL) *HTTPError {
	e := &HTTPError{URL: u.Redacted(), Status: resp.StatusCode}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		var body io.Reader = resp.Body
		if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
			if zr, err := gzip.NewReader(resp.Body); err == nil {
				defer zr.Close()
				body = zr
			}
		}
		b, _ := io.ReadAll(io.LimitReader(body, maxProblemBytes))
		json.Unmarshal(b, &e.Problem)
	}
	return e
}

// unwrapURLError strips the *url.Error the client wraps redirect failures
// in, whose message repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter parses Retry-After: delay seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// maxAge returns Cache-Control's max-age, 0 when absent.
func maxAge(h http.Header) time.Duration {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(d), "=")
			if ok && strings.EqualFold(k, "max-age") {
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err == nil && n > 0 {
					return time.Duration(min(n, 1<<30)) * time.Second
				}
			}
		}
	}
	return 0
}

// waitApplied returns the wait of a Preference-Applied: wait=N header.
func waitApplied(h http.Header) (time.Duration, bool) {
	for _, v := range h.Values("Preference-Applied") {
		for _, pref := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(pref), "=")
			if strings.EqualFold(strings.TrimSpace(k), "wait") {
				n, _ := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
				return time.Duration(max(n, 0)) * time.Second, true
			}
		}
	}
	return 0, false
}

// openBody returns the body of resp decompressed and bounded by
// Config.MaxBodyBytes (after decompression, so that a small compressed
// bomb cannot get past the limit), and a function that releases what it
// took, to call once the body is read.
func (p *Poller) openBody(ctx context.Context, resp *http.Response, u *url.URL) (*limitReader, func(), error) {
	limit := p.cfg.MaxBodyBytes
	var body io.Reader = resp.Body
	release := func() {}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		if resp.ContentLength > limit {
			return nil, nil, fmt.Errorf("poller: GET %s: %w: Content-Length %d, limit %d", u.Redacted(), feed.ErrTooLarge, resp.ContentLength, limit)
		}
	case "gzip", "x-gzip":
		zr, err := p.gunzip(resp.Body)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, &retryable{err: fmt.Errorf("poller: GET %s: gzip: %w", u.Redacted(), err)}
		}
		release = func() { p.gzips.Put(zr) }
		body = zr
	default:
		return nil, nil, fmt.Errorf("poller: GET %s: unsupported Content-Encoding %q", u.Redacted(), enc)
	}
	return &limitReader{r: body, n: limit}, release, nil
}

// do sends req, a GET of u, and sorts a failure to get an answer: ctx's
// end, a redirect the origin rules or the redirect limit refuse, or a
// network error worth retrying.
func (p *Poller) do(ctx context.Context, req *http.Request, u *url.URL) (*http.Response, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, ErrCrossOrigin), errors.Is(err, ErrTooManyRedirects):
			return nil, fmt.Errorf("poller: GET %s: %w", u.Redacted(), unwrapURLError(err))
		}
		return nil, &retryable{err: err}
	}
	return resp, nil
}

// drain reads a little of what is left of resp's body, so that the
// connection can be reused, and closes it.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}
