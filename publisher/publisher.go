package publisher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/store"
)

// Defaults of the limits in Config.
const (
	DefaultMaxWait        = 30 * time.Second
	DefaultPageCacheSize  = 1024
	DefaultPageCacheBytes = 64 << 20
	DefaultMaxBodyBytes   = 1 << 20
	DefaultBodyTimeout    = 30 * time.Second
	DefaultAuthor         = "eventfeed"
	DefaultChallenge      = `Bearer realm="eventfeed"`
)

// ErrUnauthorized is what a Config.Authorize function returns (or wraps) to
// answer 401 Unauthorized, asking the client for credentials. Any other
// error answers 403 Forbidden.
var ErrUnauthorized = errors.New("publisher: unauthorized")

// Config configures a Handler. Its zero value serves every feed of the log
// read-only, with relative links and the default limits.
type Config struct {
	// BaseURL is where the handler is reachable, such as
	// "https://example.com/feeds/" (an absolute URL) or "/feeds/" (an
	// absolute path). Links in documents are then that prefix followed by
	// the handler's own paths. When empty, links are relative references,
	// resolved against the URL each document was fetched from (RFC 4287
	// §2, RFC 3986 §5): they are right under any mount point, host and
	// proxy without configuration. Set an absolute BaseURL when serving
	// readers that do not resolve relative links: RSS 2.0 and JSON Feed
	// require absolute URLs, and the W3C Feed Validator warns about a
	// relative rel="self".
	//
	// Links never come from the request (its Host header): archive pages
	// are cached forever, here and by every cache on the way, and a
	// spoofed Host must not end up in them.
	BaseURL string

	// Prefix is the path the Handler is mounted at, such as "/feeds",
	// for a Handler that is given requests with their full path:
	// mux.Handle("/feeds/", h). It spares the copy of every request that
	// http.StripPrefix makes (a long poll keeps it for its whole wait).
	// Empty means that the Handler sees paths relative to its mount
	// point, at the root of a server or behind http.StripPrefix.
	Prefix string

	// Title names the publisher: the workspace title of the service
	// document, and with a feed's name ("Title: name") that feed's title.
	// When empty, the workspace is "eventfeed" and a feed's title is its
	// name.
	Title string
	// Author is the atom:author of every document; DefaultAuthor when empty.
	Author string

	// PageSize, when not zero, is the page size every feed must have. A
	// feed whose page size (fixed when its first event was stored) differs
	// is refused with 500 Internal Server Error and an error wrapping
	// eventfeed.ErrPageSizeMismatch in the log: caches hold its pages
	// forever, so they must not be cut differently. Zero serves each feed
	// with its own page size.
	PageSize int

	// EntryOptions tunes how events become entries (the category scheme).
	EntryOptions feed.EntryOptions

	// CacheMaxAge is the max-age of the subscription document and the
	// working page, which change with every append: clients and caches
	// may serve them that long without asking again. Zero (or less) makes
	// them revalidate every time ("max-age=0, must-revalidate"), which
	// with ETags costs a 304.
	CacheMaxAge time.Duration

	// MaxWait caps the wait a client may ask for with "Prefer: wait=N";
	// DefaultMaxWait when zero. Negative disables long polling.
	MaxWait time.Duration

	// PageCacheSize is how many rendered archive pages and entries the
	// handler keeps, each with its gzip form; DefaultPageCacheSize when
	// zero or less. PageCacheBytes bounds their total size as well;
	// DefaultPageCacheBytes when zero or less.
	PageCacheSize  int
	PageCacheBytes int64

	// MaxBodyBytes is the largest body an append may have;
	// DefaultMaxBodyBytes when zero or less. A larger one is refused with
	// 413 Content Too Large.
	MaxBodyBytes int64

	// BodyTimeout bounds the time to read a request's body, from when the
	// Handler receives the request; DefaultBodyTimeout when zero or less.
	// A body not read by then is answered 408 Request Timeout and its
	// connection closed. It is set on the connection for each request with
	// a body (through http.ResponseController), so requests without one,
	// long polls above all, are not bounded by it; http.Server.ReadTimeout
	// would bound them too. A request refused before its body is read
	// (401, 403, 404, 405, 415, …) is answered at once and its connection
	// closed, without reading the body.
	BodyTimeout time.Duration

	// Authorize, when set, enables appending over HTTP (POST to a feed's
	// subscription URL) and decides who may: it returns nil to allow r to
	// append to feed, an error wrapping ErrUnauthorized to answer 401, or
	// any other error to answer 403. Its error is logged, not shown to
	// the client. When nil, POST is answered 405 Method Not Allowed.
	Authorize func(r *http.Request, feed string) error
	// AuthorizeKeys, when set, serves the keys of the subjects of
	// encrypted feeds at /{feed}/keys/{subject} (see the package
	// documentation) and decides who may read them, as Authorize does for
	// appends: nil allows r to read the keys of feed, an error wrapping
	// ErrUnauthorized answers 401, any other error 403. A consumer that
	// holds a key reads every event of its subject: who may is the
	// operator's decision, separate from who may append. When nil, keys
	// are not served (403).
	AuthorizeKeys func(r *http.Request, feed string) error
	// Challenge is the WWW-Authenticate header of 401 answers;
	// DefaultChallenge when empty.
	Challenge string

	// Browse serves HTML views of the feeds for people to read in a web
	// browser, under "~/" (see the package documentation), and links each
	// Atom document to its view with rel="alternate" type="text/html".
	// Like Title and BaseURL it shapes the archive pages, which caches
	// keep forever: set it once for the life of a log.
	Browse bool

	// Logger receives a record for every failure the client cannot see
	// (5xx answers, refused authorizations) at Error or Warn, and for every
	// append and render at Debug. When nil nothing is logged: pass
	// slog.Default() to see them.
	Logger *slog.Logger
}

// Handler serves the feeds of a store.Log over HTTP, as the package
// documentation describes. Create one with New; it is safe for concurrent
// use.
type Handler struct {
	log    store.Log
	cfg    Config
	logger *slog.Logger
	mux    *http.ServeMux

	// The HTML views (Config.Browse) have a mux of their own, given the
	// requests under browsePrefix: their patterns ("~/{feed}") would
	// overlap with the feeds' own ("{feed}/events").
	browseMux    *http.ServeMux
	browsePrefix string

	base        string // cfg.BaseURL with a trailing slash, or ""
	title       string // workspace title
	authors     []feed.Person
	fingerprint string // of the settings that shape documents, in head ETags

	headCC      []string // Cache-Control of the head documents
	maxWait     time.Duration
	maxBody     int64
	bodyTimeout time.Duration
	challenge   []string
	allowFeed   []string // Allow of a subscription URL
	accept      []string // app:accept of each collection

	cache *lru.Cache[docKey, *rendition]
	// cacheMu is held while documents are added and evicted, so that the
	// bound holds at every moment Stats sees; it guards cacheBytes, the
	// size of the cached documents (the eviction callback runs inside
	// Add and RemoveOldest, under it).
	cacheMu    sync.Mutex
	cacheBytes int64
	cacheGen   atomic.Uint64 // counts additions; see (*Handler).cached
	maxBytes   int64
	flight     singleflight.Group

	feedsMu sync.RWMutex
	feeds   map[string]*feedState

	gzipPool sync.Pool // of *gzip.Writer

	ctx    context.Context // canceled by Close: ends long polls
	cancel context.CancelFunc

	// Reading ahead (see readAhead): a slot in ahead per render in the
	// background; aheadWG joins them on Close.
	ahead     chan struct{}
	aheadMu   sync.Mutex // orders aheadWG.Add after Close's Wait
	aheadDone bool
	aheadWG   sync.WaitGroup

	stats counters

	ids *lru.Cache[idKey, uint64] // seqs of event IDs served lately (httpfeed.go)
}

// New returns a Handler serving log as cfg says. It fails only on a Config
// that cannot work: a BaseURL that is neither an absolute URL nor an
// absolute path, or a PageSize out of range.
func New(log store.Log, cfg Config) (*Handler, error) {
	if log == nil {
		return nil, errors.New("publisher: nil store.Log")
	}
	if cfg.PageSize < 0 || cfg.PageSize > store.MaxPageSize {
		return nil, fmt.Errorf("publisher: page size %d outside 0..%d", cfg.PageSize, store.MaxPageSize)
	}
	base, err := baseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if p := cfg.Prefix; p != "" && (p[0] != '/' || p[len(p)-1] == '/' || strings.ContainsAny(p, "{} \t?#")) {
		return nil, fmt.Errorf("publisher: prefix %q is not a path like \"/feeds\" (a leading slash, no trailing one)", p)
	}
	h := &Handler{
		log:         log,
		cfg:         cfg,
		logger:      cfg.Logger,
		base:        base,
		title:       cfg.Title,
		maxWait:     cfg.MaxWait,
		maxBody:     cfg.MaxBodyBytes,
		bodyTimeout: cfg.BodyTimeout,
		maxBytes:    cfg.PageCacheBytes,
		challenge:   []string{cfg.Challenge},
		feeds:       make(map[string]*feedState),
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.title == "" {
		h.title = "eventfeed"
	}
	author := cfg.Author
	if author == "" {
		author = DefaultAuthor
	}
	h.authors = []feed.Person{{Name: author}}
	if h.maxWait == 0 {
		h.maxWait = DefaultMaxWait
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.bodyTimeout <= 0 {
		h.bodyTimeout = DefaultBodyTimeout
	}
	if h.maxBytes <= 0 {
		h.maxBytes = DefaultPageCacheBytes
	}
	if cfg.Challenge == "" {
		h.challenge = []string{DefaultChallenge}
	}
	maxAge := int64(cfg.CacheMaxAge / time.Second)
	if maxAge < 0 {
		maxAge = 0
	}
	h.headCC = []string{"public, max-age=" + strconv.FormatInt(maxAge, 10) + ", must-revalidate"}
	// An empty app:accept says a collection takes no POST (RFC 5023
	// §8.3.4); without the element it would take entries.
	h.allowFeed, h.accept = allowGet, []string{""}
	if cfg.Authorize != nil {
		h.allowFeed, h.accept = allowGetPost, []string{feed.MediaTypeEntry}
	}
	size := cfg.PageCacheSize
	if size <= 0 {
		size = DefaultPageCacheSize
	}
	h.cache, err = lru.NewWithEvict(size, func(_ docKey, r *rendition) {
		h.cacheBytes -= r.size()
	})
	if err != nil {
		return nil, fmt.Errorf("publisher: page cache: %w", err)
	}

	// The fingerprint of everything that shapes a document goes into the
	// ETags of the head documents (which are derived from the head, not
	// hashed from the bytes), so that a configuration change is not
	// answered with a 304 for bytes that are no longer served.
	sum := sha256.Sum256([]byte(strings.Join([]string{
		renderVersion, h.base, cfg.Title, author,
		cfg.EntryOptions.CategoryScheme, strconv.FormatBool(cfg.Browse),
	}, "\x00")))
	h.fingerprint = hex.EncodeToString(sum[:4])

	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.ahead = make(chan struct{}, maxReadAhead)
	h.routes()
	return h, nil
}

// renderVersion changes whenever the publisher changes the documents it
// renders for the same events and Config, so that head ETags change too.
const renderVersion = "2"

// baseURL validates and normalizes Config.BaseURL.
func baseURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("publisher: base URL: %w", err)
	}
	absURL := u.Scheme != "" && u.Host != ""
	absPath := u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/")
	if !absURL && !absPath || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("publisher: base URL %q: want an absolute URL or path, without query, fragment or user", s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

// Shared header values: set straight into the header map, never modified.
var (
	allowGet     = []string{"GET, HEAD"}
	allowGetPost = []string{"GET, HEAD, POST"}
	immutableCC  = []string{"public, max-age=31536000, immutable"}
	noStoreCC    = []string{"no-store"}
	gzipCoding   = []string{"gzip"}
	varyEncoding = []string{"Accept-Encoding"}
	nosniff      = []string{"nosniff"}
	retryNow     = []string{"1"}
)

func (h *Handler) routes() {
	m := http.NewServeMux()
	p := h.cfg.Prefix
	m.HandleFunc("GET "+p+"/{$}", h.serveService)
	m.HandleFunc("GET "+p+"/{feed}", h.serveSubscription)
	m.HandleFunc("POST "+p+"/{feed}", h.serveAppend)
	m.HandleFunc("GET "+p+"/{feed}/{epoch}/pages/{k}", h.servePage)
	m.HandleFunc("GET "+p+"/{feed}/{epoch}/entries/{seq}", h.serveEntry)
	m.HandleFunc("GET "+p+"/{feed}/keys/{subject}", h.serveKey)
	h.httpFeedRoutes(m)
	// Without a method, the patterns catch every other method, so that
	// 405 is answered as a problem document (ServeMux's own is text).
	get := h.methodNotAllowed(allowGet)
	m.HandleFunc(p+"/{$}", get)
	m.HandleFunc(p+"/{feed}/{epoch}/pages/{k}", get)
	m.HandleFunc(p+"/{feed}/{epoch}/entries/{seq}", get)
	m.HandleFunc(p+"/{feed}/keys/{subject}", get)
	// The alternates, each at URLs of its own (see formatOf).
	for _, seg := range formatSegment[formatRSS:] {
		m.HandleFunc("GET "+p+"/{feed}/"+seg, h.serveSubscription)
		m.HandleFunc("GET "+p+"/{feed}/{epoch}/"+seg+"/{k}", h.servePage)
		m.HandleFunc(p+"/{feed}/"+seg, get)
		m.HandleFunc(p+"/{feed}/{epoch}/"+seg+"/{k}", get)
	}
	m.HandleFunc(p+"/{feed}", h.methodNotAllowed(h.allowFeed))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.problem(w, r, http.StatusNotFound, "no such resource: see the service document at the root")
	})
	h.mux = m
	if h.cfg.Browse {
		h.browseRoutes()
	}
}

// ServeHTTP answers r as the package documentation describes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.stats.requests.Add(1)
	if r.Body != nil && r.Body != http.NoBody {
		h.bound(w, r)
	}
	if h.browseMux != nil && strings.HasPrefix(r.URL.Path, h.browsePrefix) {
		h.browseMux.ServeHTTP(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) methodNotAllowed(allow []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Allow"] = allow
		h.problem(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, allow[0]))
	}
}

// Close ends every long poll at once (each answers 304 Not Modified, as if
// its wait had run out) and makes later ones answer without waiting. It
// does not stop the Handler from serving. http.Server.Shutdown waits for
// active requests, long polls included: register Close with
// srv.RegisterOnShutdown(h.Close) so that shutdown does not wait for them.
// Close may be called more than once. It also stops reading pages ahead,
// and returns once the renders in the background have ended.
func (h *Handler) Close() {
	h.cancel()
	h.aheadMu.Lock()
	h.aheadDone = true
	h.aheadMu.Unlock()
	h.aheadWG.Wait()
}

// feedState is what the Handler keeps per feed: the documents at its
// current head.
type feedState struct {
	mu  sync.Mutex // serializes replacing cur
	cur atomic.Pointer[headDocs]
}

// lookup returns the feed called name, or answers the request itself
// (404 for an unknown feed, 500 for a store failure or a page size the
// Handler must not serve) and returns false.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, name string) (store.Feed, bool) {
	if eventfeed.ValidateFeedName(name) != nil {
		h.problem(w, r, http.StatusNotFound, fmt.Sprintf("feed %q does not exist", name))
		return store.Feed{}, false
	}
	f, err := h.log.Feed(r.Context(), name)
	if err != nil {
		if errors.Is(err, eventfeed.ErrFeedNotFound) {
			h.problem(w, r, http.StatusNotFound, fmt.Sprintf("feed %q does not exist", name))
		} else {
			h.fail(w, r, err)
		}
		return f, false
	}
	if err := h.checkPageSize(f); err != nil {
		h.refuse(w, r, f, err)
		return f, false
	}
	return f, true
}

// refuse answers 500 for a feed that checkPageSize refused. The message
// names page sizes only, and says what is wrong to whoever reads it.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, f store.Feed, err error) {
	h.logger.Error("publisher: feed refused", "feed", f.Name, "err", err)
	h.problem(w, r, http.StatusInternalServerError, err.Error())
}

// checkPageSize refuses a feed cut in pages other than the Config says,
// or in pages no Log may make.
func (h *Handler) checkPageSize(f store.Feed) error {
	if f.PageSize < 1 || f.PageSize > store.MaxPageSize {
		return fmt.Errorf("publisher: feed %q has page size %d, outside 1..%d", f.Name, f.PageSize, store.MaxPageSize)
	}
	if h.cfg.PageSize != 0 && f.PageSize != h.cfg.PageSize {
		return fmt.Errorf("%w: feed %q has page size %d, the publisher is configured for %d",
			eventfeed.ErrPageSizeMismatch, f.Name, f.PageSize, h.cfg.PageSize)
	}
	return nil
}

// heads returns the documents of f at its head (or at a newer head
// already known), making them when f is newer than what the Handler has.
// Every request at one head shares them: the working page is rendered
// once per head, however many requests ask for it at once.
func (h *Handler) heads(f store.Feed) *headDocs {
	h.feedsMu.RLock()
	st := h.feeds[f.Name]
	h.feedsMu.RUnlock()
	if st == nil {
		h.feedsMu.Lock()
		if st = h.feeds[f.Name]; st == nil {
			st = new(feedState)
			h.feeds[f.Name] = st
		}
		h.feedsMu.Unlock()
	}
	if cur := st.cur.Load(); cur != nil && cur.f.Epoch == f.Epoch && cur.f.Head >= f.Head {
		return cur
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := st.cur.Load()
	if cur != nil && cur.f.Epoch == f.Epoch && cur.f.Head >= f.Head {
		return cur
	}
	cur = h.newHeadDocs(f)
	st.cur.Store(cur)
	return cur
}
