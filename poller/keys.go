package poller

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/errgroup"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/seal"
)

// DefaultMaxKeys is how many subjects' keys a Poller keeps in memory when
// Config.MaxKeys is zero.
const DefaultMaxKeys = 10_000

// ErrNoKey reports a sealed event (see the package documentation) whose
// key the publisher does not give: its key endpoint answered 401, 403,
// 404 or another status that is neither a key nor the 410 of an erased
// subject (the *HTTPError in the chain says which), or a document that is
// not the subject's key. The event is not skipped: Sync and Run stop, and
// go on once the operator has given the Poller a key token
// (Config.KeyToken) the publisher accepts.
var ErrNoKey = errors.New("poller: no key for a sealed event")

const (
	// maxKeyBytes bounds a key document (a JWK of a 256-bit key is about
	// 100 bytes, plus its kid).
	maxKeyBytes = 16 << 10
	// keyFetchers is how many keys of one batch are fetched at once.
	keyFetchers = 4
	// acceptJWK is the Accept header of key requests.
	acceptJWK = "application/jwk+json, application/json;q=0.5"
)

// keyring is what a Poller knows of the keys of an encrypted feed's
// subjects: the keys fetched (bounded, least recently used dropped first)
// and the key links of the entries decoded. Neither is ever written to
// the replica. Both are safe for concurrent use.
type keyring struct {
	keys *lru.Cache[string, subjectKey] // by subject
	// links holds, by subject, the key link of the subject's sealed
	// entries; its URL is "" for entries of type application/jose that
	// link no key (they are not sealed: their data is handed on as it is).
	links *lru.Cache[string, keyLink]
	// template is the key URL of a subject without a link: the feed's
	// subscription URL followed by "/keys/", which the path-escaped
	// subject follows.
	template string
	// opened holds the events the last open opened, by ID, each with the
	// first byte of the plaintext it was given: a projection failure
	// parks one of them and commits those before it again, opened
	// already, and their own media type may be application/jose. The
	// same event read again from its page has its sealed data, and is
	// opened. The applying goroutine's own.
	opened map[string]*byte
}

// keyLink is the key link of a subject's sealed entries.
type keyLink struct {
	url string // the absolute URL; "" when the entries link no key
	// raw is the link's href as the entries give it and dir the
	// directory of the document it was resolved against, or "" for an
	// absolute href: an entry of the same subject with the same href, in
	// a document of the same directory, resolves to the same URL (RFC
	// 3986 §5.2: a reference with a path depends on its base's scheme,
	// authority and path up to the last "/") and costs no parsing. Both
	// are "" when the href's resolution depends on more of the base.
	raw, dir string
}

// docDir is the part of base, a document's URL, that the resolution of a
// reference with a path depends on: base without query and fragment, its
// path cut after the last "/".
func docDir(base *url.URL) string {
	u := *base
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	s := u.String()
	if u.Path == "" || u.Opaque != "" {
		return s
	}
	return s[:strings.LastIndexByte(s, '/')+1]
}

// subjectKey is a subject's key, or its erasure (aead nil).
type subjectKey struct {
	aead cipher.AEAD
}

func newKeyring(size int, source *url.URL) *keyring {
	k := &keyring{template: strings.TrimSuffix(source.String(), "/") + "/keys/"}
	k.keys, _ = lru.New[string, subjectKey](size) // size > 0: no error
	k.links, _ = lru.New[string, keyLink](size)
	return k
}

// keysAt makes the key URLs of subjects without a key link those under
// feedURL, the feed's subscription URL.
func (k *keyring) keysAt(feedURL string) {
	k.template = strings.TrimSuffix(feedURL, "/") + "/keys/"
}

// sealed reports whether ev is a sealed event of an encrypted feed, and
// the URL of its subject's key.
func (k *keyring) sealed(ev *eventfeed.Event) (string, bool) {
	if ev.Subject == "" || len(ev.Data) == 0 || !strings.EqualFold(ev.ContentType, eventfeed.EncryptedContentType) {
		return "", false
	}
	l, ok := k.links.Peek(ev.Subject)
	switch {
	case ok && l.url == "":
		return "", false
	case ok:
		return l.url, true
	}
	return k.template + url.PathEscape(ev.Subject), true
}

// noteKeyLink records the key link of e, an entry just decoded from the
// document at base, for the subject's sealed events. dir is docDir(base).
func (p *Poller) noteKeyLink(e *feed.Entry, base *url.URL, dir string) {
	if e.Subject == "" || !strings.EqualFold(e.Content.Type, eventfeed.EncryptedContentType) {
		return
	}
	href := strings.TrimSpace(e.Link(feed.RelKey))
	if l, ok := p.keys.links.Peek(e.Subject); ok && href != "" && href == l.raw && (l.dir == "" || l.dir == dir) {
		return
	}
	// Peek leaves the links in the order they were last added, not used:
	// a subject's link dropped for want of room is added again by the
	// next entry of the subject that is decoded.
	var l keyLink
	if href != "" {
		ref, err := url.Parse(href)
		if err != nil {
			l.url = "\x00" + href // fails as a URL when the key is fetched
		} else {
			l.url = base.ResolveReference(ref).String()
			switch {
			case ref.IsAbs():
				l.raw = href
			case ref.Path != "" || ref.Opaque != "":
				l.raw, l.dir = href, dir
			}
		}
	}
	p.keys.links.Add(e.Subject, l)
}

// open opens the sealed events of a batch in place, before it is applied:
// it fetches the keys that are not in memory yet (a few at a time, with
// retries, so that the replica's transaction never waits on a request),
// then hands each sealed event on with its plaintext and media type, or,
// for an erased subject (its key endpoint answered 410), with no data and
// ContentType eventfeed.EncryptedContentType. A tombstone (Type
// eventfeed.TypeErased) drops its subject's key from memory. Data that
// does not open is an error wrapping eventfeed.ErrDecrypt, and a key the
// publisher refuses one wrapping ErrNoKey: nothing of the batch is
// applied.
func (p *Poller) open(ctx context.Context, events []eventfeed.Event) error {
	need, sealed := p.missingKeys(events, true)
	if !sealed {
		return nil
	}
	opened := make(map[string]*byte)
	fetched, err := p.fetchKeys(ctx, need)
	if err != nil {
		return err
	}
	for i := range events {
		ev := &events[i]
		if ev.Type == eventfeed.TypeErased && ev.Subject != "" {
			p.keys.keys.Remove(ev.Subject)
			delete(fetched, ev.Subject)
			continue
		}
		if _, ok := p.keys.sealed(ev); !ok || p.keys.isOpened(ev) {
			continue
		}
		k, ok := fetched[ev.Subject]
		if !ok {
			if k, ok = p.keys.keys.Get(ev.Subject); !ok {
				// Dropped from memory since, by a tombstone of an
				// earlier batch or by newer keys: fetch it again.
				got, err := p.fetchKeys(ctx, map[string]string{ev.Subject: p.keyURL(ev)})
				if err != nil {
					return err
				}
				k = got[ev.Subject]
			}
		}
		if k.aead == nil {
			ev.Data, ev.ContentType = nil, eventfeed.EncryptedContentType
			continue
		}
		plain, h, err := seal.Open(k.aead, ev.Data, ev.ID, ev.Subject)
		if err != nil {
			return fmt.Errorf("poller: event %s of subject %q: %w", ev.ID, ev.Subject, err)
		}
		ev.Data, ev.ContentType = plain, h.Cty
		if len(plain) == 0 {
			ev.Data = nil
		} else {
			opened[ev.ID] = &plain[0]
		}
	}
	if len(opened) > 0 {
		p.keys.opened = opened
	}
	return nil
}

// isOpened reports whether ev is an event open has opened already, as
// open left it.
func (k *keyring) isOpened(ev *eventfeed.Event) bool {
	first, ok := k.opened[ev.ID]
	return ok && len(ev.Data) > 0 && &ev.Data[0] == first
}

// missingKeys returns the subjects of the sealed events among events
// whose keys are not in memory, with their key URLs, and whether any
// event is sealed; skipOpened leaves out the events open has opened
// already (only the applying goroutine may ask that).
func (p *Poller) missingKeys(events []eventfeed.Event, skipOpened bool) (need map[string]string, sealed bool) {
	for i := range events {
		ev := &events[i]
		href, ok := p.keys.sealed(ev)
		if !ok || skipOpened && p.keys.isOpened(ev) {
			continue
		}
		sealed = true
		if p.keys.keys.Contains(ev.Subject) {
			continue
		}
		if need == nil {
			need = make(map[string]string)
		}
		need[ev.Subject] = href
	}
	return need, sealed
}

// prefetchKeys fetches the keys that the sealed events of a page just
// fetched will need, while the pages before it are applied, so that
// applying the page waits less. A key it cannot fetch is left for open
// to fetch again and report.
func (p *Poller) prefetchKeys(ctx context.Context, events []eventfeed.Event) {
	if need, _ := p.missingKeys(events, false); len(need) > 0 {
		p.fetchKeys(ctx, need)
	}
}

// keyURL is the URL of the key of ev's subject.
func (p *Poller) keyURL(ev *eventfeed.Event) string {
	href, _ := p.keys.sealed(ev)
	return href
}

// fetchKeys fetches the keys of need (subject → key URL), keyFetchers at
// a time, keeps them in memory and returns them.
func (p *Poller) fetchKeys(ctx context.Context, need map[string]string) (map[string]subjectKey, error) {
	got := make(map[string]subjectKey, len(need))
	if len(need) == 0 {
		return got, nil
	}
	type result struct {
		subject string
		key     subjectKey
	}
	results := make(chan result, len(need))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(keyFetchers)
	for subject, href := range need {
		g.Go(func() error {
			k, err := p.fetchKey(gctx, subject, href)
			if err != nil {
				return err
			}
			results <- result{subject, k}
			return nil
		})
	}
	err := g.Wait()
	close(results)
	for r := range results {
		p.keys.keys.Add(r.subject, r.key)
		got[r.subject] = r.key
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return got, nil
}

// fetchKey fetches the key of subject at href, retrying failures worth
// retrying as fetchRetry does.
func (p *Poller) fetchKey(ctx context.Context, subject, href string) (subjectKey, error) {
	var first time.Time // of the failures in a row
	for attempt := 0; ; attempt++ {
		k, err := p.fetchKeyOnce(ctx, subject, href)
		if err == nil {
			return k, nil
		}
		if err := p.retryLater(ctx, err, attempt, &first, "key fetch", href); err != nil {
			return subjectKey{}, err
		}
	}
}

// fetchKeyOnce makes one GET of the key of subject at href. Errors worth
// retrying are *retryable.
func (p *Poller) fetchKeyOnce(ctx context.Context, subject, href string) (subjectKey, error) {
	u, err := parseAbs(href)
	if err != nil {
		return subjectKey{}, fmt.Errorf("%w: subject %q: bad key link: %w", ErrNoKey, subject, err)
	}
	if err := p.checkOrigin(u); err != nil {
		return subjectKey{}, fmt.Errorf("%w: subject %q: %w", ErrNoKey, subject, err)
	}
	rctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return subjectKey{}, fmt.Errorf("%w: subject %q: %w", ErrNoKey, subject, err)
	}
	req.Header.Set("Accept", acceptJWK)
	req.Header.Set("User-Agent", userAgent)
	if p.cfg.KeyToken != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.KeyToken)
	}
	resp, err := p.do(ctx, req, u)
	if err != nil {
		var r *retryable
		if errors.As(err, &r) || ctx.Err() != nil {
			return subjectKey{}, err
		}
		return subjectKey{}, fmt.Errorf("%w: subject %q: %w", ErrNoKey, subject, err)
	}
	defer drain(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code == http.StatusGone:
		// The subject was erased: its key is gone for good.
		return subjectKey{}, nil
	case code == http.StatusTooManyRequests || code >= 500:
		return subjectKey{}, &retryable{err: httpError(resp, u), after: retryAfter(resp.Header, time.Now())}
	default:
		return subjectKey{}, fmt.Errorf("%w: subject %q: %w", ErrNoKey, subject, httpError(resp, u))
	}
	doc, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyBytes+1))
	switch {
	case err != nil:
		return subjectKey{}, &retryable{err: fmt.Errorf("poller: GET %s: reading body: %w", u.Redacted(), err)}
	case len(doc) > maxKeyBytes:
		return subjectKey{}, fmt.Errorf("%w: subject %q: %s: key document over %d bytes", ErrNoKey, subject, u.Redacted(), maxKeyBytes)
	}
	key, kid, err := seal.ParseJWK(doc)
	clear(doc)
	if err != nil {
		return subjectKey{}, fmt.Errorf("%w: subject %q: %s: %w", ErrNoKey, subject, u.Redacted(), err)
	}
	if kid != "" && kid != subject {
		return subjectKey{}, fmt.Errorf("%w: subject %q: %s answered the key of %q", ErrNoKey, subject, u.Redacted(), kid)
	}
	aead, err := seal.NewAEAD(key)
	clear(key)
	if err != nil {
		return subjectKey{}, fmt.Errorf("%w: subject %q: %w", ErrNoKey, subject, err)
	}
	return subjectKey{aead: aead}, nil
}
