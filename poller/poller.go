package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// Defaults of Config's limits, used where a field is zero.
const (
	DefaultWait            = 20 * time.Second
	DefaultMinInterval     = time.Second
	DefaultMaxInterval     = time.Minute
	DefaultRequestTimeout  = time.Minute
	DefaultMaxBodyBytes    = 16 << 20
	DefaultMaxPagesPerSync = 100_000
	DefaultMaxRedirects    = 5
	DefaultBackoffMin      = 100 * time.Millisecond
	DefaultBackoffMax      = 30 * time.Second
	DefaultMaxRetries      = 5
	DefaultBatchSize       = 500
	DefaultPrefetch        = 2
	DefaultRecentIDs       = 1000
)

// maxRetryAfter caps the wait a server may ask for with Retry-After, so
// that a wrong header cannot stop a Poller for days.
const maxRetryAfter = 10 * time.Minute

// Config tunes a Poller. The zero value follows a feed with safe limits.
type Config struct {
	// Client makes the requests. Nil means a client with dial, TLS and
	// response-header timeouts and no overall timeout (long polls outlast
	// any sensible one; RequestTimeout bounds each request instead). A
	// given client is copied and its CheckRedirect wrapped to enforce
	// MaxRedirects and the origin rules; its Timeout, when set, must
	// exceed Wait.
	Client *http.Client
	// Wait is how long a poll at the head asks the server to hold the
	// request (Prefer: wait, in whole seconds). Zero means DefaultWait;
	// negative asks for no long poll.
	Wait time.Duration
	// MinInterval and MaxInterval bound the pause between polls when the
	// server did not hold the request: the pause is the response's
	// Cache-Control max-age, at least MinInterval and at most MaxInterval.
	// Zero means DefaultMinInterval and DefaultMaxInterval.
	MinInterval, MaxInterval time.Duration
	// RequestTimeout bounds each request, body included, on top of the
	// Wait it asks for. Zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a response body after decompression. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxPagesPerSync bounds the pages one catch-up visits (a Sync, or in
	// Run each catch-up after a change at the head). Zero means
	// DefaultMaxPagesPerSync. What was applied before the limit stays
	// applied: another Sync goes on from there.
	MaxPagesPerSync int
	// MaxRedirects bounds the redirects followed per request. Zero means
	// DefaultMaxRedirects; negative follows none.
	MaxRedirects int
	// AllowedOrigins lists origins ("https://cdn.example.com") other than
	// the source's whose links and redirects the Poller follows.
	AllowedOrigins []string
	// AllowCrossOrigin follows links and redirects to any origin.
	AllowCrossOrigin bool
	// Backoff spaces retries after failures.
	Backoff Backoff
	// MaxRetryTime bounds how long a request, or an Apply, is retried:
	// once its failures have gone on that long, Sync and Run return the
	// last one, wrapped in ErrGaveUp. Zero means no bound: retry until the
	// context ends (what a service following a feed wants; a one-off
	// catch-up may want to give up on an unreachable host instead).
	MaxRetryTime time.Duration
	// DeadLetter parks an event that the replica's projection failed on
	// MaxRetries times (Replica.Park) and goes on with the next. When
	// false, the batch is retried with backoff until it applies.
	DeadLetter bool
	// MaxRetries is how often an event is tried before it is parked, when
	// DeadLetter is set. Zero means DefaultMaxRetries.
	MaxRetries int
	// BatchSize is how many events an Apply gathers while catching up: a
	// batch takes whole pages that are already fetched until it holds
	// BatchSize events. A page is never split. Zero means DefaultBatchSize.
	BatchSize int
	// Prefetch is how many pages are fetched and decoded ahead of the one
	// being applied while catching up. From 2 on, the request for a page
	// goes out as soon as the links of the page before it are read,
	// while that page's entries are still being decoded. Zero means
	// DefaultPrefetch; negative fetches the next page only after the
	// current one is applied.
	Prefetch int
	// RecentIDs is how many applied entry IDs of a feed without ef:seq
	// the checkpoint keeps, committed with the events, to tell what was
	// applied from what was not: an entry whose ID is kept is dropped as
	// a duplicate. The checkpoint keeps at least twice the entries of the
	// largest page applied, so that a page read again after a restart,
	// and the page before it, are always recognised. An entry that shows up
	// again after more than that many others were applied is applied
	// again. Zero means DefaultRecentIDs.
	RecentIDs int
	// KeyToken is sent as "Authorization: Bearer KeyToken" with each
	// request for the key of a sealed event's subject (see the package
	// documentation), and with no other request. Empty sends none. For
	// another scheme, give a Client whose Transport adds it.
	KeyToken string
	// MaxKeys bounds the subjects' keys kept in memory (never in the
	// replica); the least recently used is dropped first and fetched
	// again when needed. Zero means DefaultMaxKeys.
	MaxKeys int
	// FeedName is the Feed given to the events applied. Empty means one
	// made from the source URL's last path segment (see New).
	FeedName string
	// Logger receives the Poller's log. Nil means none.
	Logger *slog.Logger
}

// Backoff spaces retries: the n-th consecutive failure waits about
// Min·2ⁿ, at most Max, with jitter (a random wait between half and all of
// it). Zero fields mean DefaultBackoffMin and DefaultBackoffMax.
type Backoff struct {
	Min, Max time.Duration
}

// Stats are counters of a Poller's work since New.
type Stats struct {
	Events      uint64 // events applied
	Parked      uint64 // events parked as dead letters
	Duplicates  uint64 // entries dropped because they were already applied
	Pages       uint64 // pages fetched and decoded (a page fetched ahead and dropped too)
	CacheHits   uint64 // archive pages taken from the Poller's page cache
	NotModified uint64 // 304 answers to polls at the head
	Errors      uint64 // failed requests and failed Apply calls
	Retries     uint64 // waits before a retry
	// CaughtUp reports that the last catch-up reached the head of the feed.
	CaughtUp bool
	// Checkpoint is the last checkpoint committed by this Poller.
	Checkpoint store.Checkpoint
	// LastEvent is the Time of the newest event applied.
	LastEvent time.Time
	// Lag is how old the newest applied event was when it was committed:
	// the delay from its atom:updated to its commit.
	Lag time.Duration
	// SeqLag is the highest ef:seq seen in the feed minus the last applied
	// one; 0 for feeds without ef:seq.
	SeqLag uint64
	// LastPoll is when a request to the feed last succeeded (a page or a
	// 304), zero before the first.
	LastPoll time.Time
	// LastError is the last error met, retried or not, and when.
	LastError   error
	LastErrorAt time.Time
}

// A Poller follows one feed into a store.Replica. Its methods are safe for
// concurrent use, but only one Sync or Run runs at a time.
type Poller struct {
	source    *url.URL
	replica   store.Replica
	cfg       Config
	client    *http.Client
	ownClient bool
	log       *slog.Logger
	origins   map[string]bool // allowed origins, the source's included
	feedName  string

	running atomic.Bool
	cache   *pageCache
	seen    *recentIDs // IDs applied lately; the applying goroutine's own
	gzips   sync.Pool  // *gzip.Reader, reset for each response
	// entries is how many entries the last page decoded had: the capacity
	// to decode the next one into, as pages of a feed are alike.
	entries atomic.Int64

	mu       sync.Mutex
	stats    Stats
	maxSeq   uint64
	failures map[string]int // projection failures by event ID, for DeadLetter

	keys *keyring // of the subjects of an encrypted feed (keys.go)
}

// New returns a Poller that follows the feed whose subscription document
// is at source and applies its entries to replica, keeping its
// checkpoint under source. Nothing happens until Sync or Run.
//
// Without Config.FeedName, the events' Feed is the last non-empty segment
// of the source's path (else its host), lowercased, with characters
// outside [a-z0-9._-] replaced by '-'.
func New(source string, replica store.Replica, cfg Config) (*Poller, error) {
	u, err := url.Parse(source)
	if err != nil {
		return nil, fmt.Errorf("poller: source %q: %w", source, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("poller: source %q is not an absolute http or https URL", source)
	}
	if replica == nil {
		return nil, errors.New("poller: nil replica")
	}
	u.Fragment = ""
	cfg = withDefaults(cfg)
	p := &Poller{
		source:   u,
		replica:  replica,
		cfg:      cfg,
		log:      cfg.Logger,
		origins:  map[string]bool{origin(u): true},
		failures: make(map[string]int),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("source", source)
	for _, o := range cfg.AllowedOrigins {
		ou, err := url.Parse(o)
		if err != nil || ou.Host == "" {
			return nil, fmt.Errorf("poller: allowed origin %q is not an absolute URL", o)
		}
		p.origins[origin(ou)] = true
	}
	p.feedName = cfg.FeedName
	if p.feedName == "" {
		p.feedName = feedNameOf(u)
	}
	if err := eventfeed.ValidateFeedName(p.feedName); err != nil {
		return nil, fmt.Errorf("poller: %w", err)
	}
	p.client, p.ownClient = p.newClient(cfg.Client)
	p.cache = newPageCache(4 * cfg.MaxBodyBytes)
	p.seen = newRecentIDs(cfg.RecentIDs)
	p.keys = newKeyring(cfg.MaxKeys, u)
	return p, nil
}

func withDefaults(c Config) Config {
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.Wait > 0 && c.Wait < time.Second {
		c.Wait = time.Second
	}
	if c.MinInterval <= 0 {
		c.MinInterval = DefaultMinInterval
	}
	if c.MaxInterval <= 0 {
		c.MaxInterval = DefaultMaxInterval
	}
	if c.MaxInterval < c.MinInterval {
		c.MaxInterval = c.MinInterval
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxPagesPerSync <= 0 {
		c.MaxPagesPerSync = DefaultMaxPagesPerSync
	}
	if c.MaxRedirects == 0 {
		c.MaxRedirects = DefaultMaxRedirects
	}
	if c.Backoff.Min <= 0 {
		c.Backoff.Min = DefaultBackoffMin
	}
	if c.Backoff.Max <= 0 {
		c.Backoff.Max = DefaultBackoffMax
	}
	if c.Backoff.Max < c.Backoff.Min {
		c.Backoff.Max = c.Backoff.Min
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Prefetch == 0 {
		c.Prefetch = DefaultPrefetch
	}
	if c.RecentIDs <= 0 {
		c.RecentIDs = DefaultRecentIDs
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	return c
}

// newClient returns the client to use and whether the Poller owns it.
func (p *Poller) newClient(given *http.Client) (*http.Client, bool) {
	check := func(req *http.Request, via []*http.Request) error {
		if len(via) > p.cfg.MaxRedirects {
			return fmt.Errorf("%w: more than %d from %s", ErrTooManyRedirects, max(p.cfg.MaxRedirects, 0), via[0].URL)
		}
		return p.checkOrigin(req.URL)
	}
	if given != nil {
		c := *given
		userCheck := given.CheckRedirect
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if err := check(req, via); err != nil {
				return err
			}
			if userCheck != nil {
				return userCheck(req, via)
			}
			return nil
		}
		return &c, false
	}
	header := 30 * time.Second
	if p.cfg.Wait > 0 {
		header += p.cfg.Wait
	}
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   max(p.cfg.Prefetch, 0) + 2 + keyFetchers,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: t, CheckRedirect: check}, true
}

// origin returns u's scheme://host:port, with the scheme's default port
// made explicit so that equal origins compare equal.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// checkOrigin reports whether the Poller may request u.
func (p *Poller) checkOrigin(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: %s is not an http or https URL", ErrCrossOrigin, u.Redacted())
	}
	if p.cfg.AllowCrossOrigin || p.origins[origin(u)] {
		return nil
	}
	return fmt.Errorf("%w: %s is not on %s", ErrCrossOrigin, u.Redacted(), origin(p.source))
}

// feedNameOf makes a feed name from a source URL.
func feedNameOf(u *url.URL) string {
	name := ""
	for _, seg := range strings.Split(u.Path, "/") {
		if seg != "" {
			name = seg
		}
	}
	if s, err := url.PathUnescape(name); err == nil {
		name = s
	}
	if name == "" {
		name = u.Hostname()
	}
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name = strings.Trim(b.String(), "-.")
	if len(name) > eventfeed.MaxFeedNameLen {
		name = name[:eventfeed.MaxFeedNameLen]
	}
	if name == "" {
		name = "feed"
	}
	return name
}

// FeedName returns the Feed given to the events applied.
func (p *Poller) FeedName() string { return p.feedName }

// Source returns the URL the Poller follows, as it names the source in the
// replica's checkpoints (Checkpoint.Source).
func (p *Poller) Source() string { return p.source.String() }

// Stats returns a snapshot of the Poller's counters.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	if s.Checkpoint.Seq > 0 && p.maxSeq > s.Checkpoint.Seq {
		s.SeqLag = p.maxSeq - s.Checkpoint.Seq
	}
	return s
}

func (p *Poller) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// noteFinal counts err, which ends a Sync or Run and is returned to the
// caller, who reports it: it is logged at debug level only, so that it is
// not reported twice.
func (p *Poller) noteFinal(err error, msg string) {
	p.mu.Lock()
	p.stats.Errors++
	p.stats.LastError = err
	p.stats.LastErrorAt = time.Now()
	p.mu.Unlock()
	p.log.Debug(msg, "err", err)
}

// noteError counts err and logs it.
func (p *Poller) noteError(err error, msg string, attrs ...any) {
	p.mu.Lock()
	p.stats.Errors++
	p.stats.LastError = err
	p.stats.LastErrorAt = time.Now()
	p.mu.Unlock()
	p.log.Warn(msg, append(attrs, "err", err)...)
}

// Sync applies every entry of the feed that the replica does not have yet
// and returns once it has reached the head of the feed. Failures worth
// retrying (network errors, 5xx and 429 answers, truncated bodies, replica
// errors other than ErrClosed) are retried with backoff until ctx ends, in
// which case Sync returns ctx's error. Other errors are returned at once:
// see the package documentation for which.
func (p *Poller) Sync(ctx context.Context) error {
	return p.syncWith(ctx, func(ctx context.Context, s *session) error {
		_, err := p.catchUp(ctx, s, s.startURL(p))
		return err
	})
}

// syncWith is a Sync, of an Atom feed or an http-feed, whose catch-up from
// the session begun is catchUp: one at a time, its error counted and
// logged at Debug only, since the caller gets it (and would print it).
func (p *Poller) syncWith(ctx context.Context, catchUp func(context.Context, *session) error) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrBusy
	}
	defer p.running.Store(false)
	defer p.closeIdle()
	s, err := p.begin(ctx)
	if err == nil {
		err = catchUp(ctx, s)
	}
	if err != nil && ctx.Err() == nil {
		p.noteFinal(err, "sync failed")
	}
	return err
}

// Run follows the feed until ctx ends: it catches up like Sync (waiting for
// a feed that does not exist yet), then polls the head of the feed (a long
// poll when the server supports it) and applies new entries as they
// appear. It returns nil when ctx ends, and
// the error otherwise: only errors that retrying cannot cure end it (see
// the package documentation), such as eventfeed.ErrCheckpointLost.
func (p *Poller) Run(ctx context.Context) error { return p.runWith(ctx, p.run) }

// runWith is a Run, of an Atom feed or an http-feed, that follows it with
// run: one at a time, nil when ctx ends, else run's error, counted and
// logged at Debug only, since the caller gets it.
func (p *Poller) runWith(ctx context.Context, run func(context.Context) error) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrBusy
	}
	defer p.running.Store(false)
	defer p.closeIdle()
	err := run(ctx)
	if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
		return nil
	}
	p.noteFinal(err, "run failed")
	return err
}

func (p *Poller) run(ctx context.Context) error {
	s, err := p.begin(ctx)
	if err != nil {
		return err
	}
	head, err := p.catchUp(ctx, s, s.startURL(p))
	for attempt := 0; err != nil && p.notYet(s, err); attempt++ {
		// A feed is created by its first event: until then a publisher
		// answers 404. A consumer may well start first, so Run waits
		// for it (Sync, asked to catch up once, reports the 404).
		// That is a normal state, not a failure: one line at Info,
		// then Debug, and no error counted.
		d := min(p.backoff(attempt), p.cfg.MaxInterval)
		level := slog.LevelDebug
		if attempt == 0 {
			level = slog.LevelInfo
		}
		p.log.Log(ctx, level, "feed not found: it may have no events yet; waiting for its first", "url", p.source.String(), "in", d)
		if err := sleep(ctx, d); err != nil {
			return err
		}
		head, err = p.catchUp(ctx, s, s.startURL(p))
	}
	if err != nil {
		return err
	}
	pollURL, etag := head.pollTarget()
	for {
		pg, err := p.fetchRetry(ctx, pollURL, etag, p.cfg.Wait, nil)
		if err != nil {
			return err
		}
		// Poll again at once after a long poll, after an answer that
		// brought new events, or when this answer gave the ETag that the
		// next poll needs to be a long poll; else pause, so that a server
		// that neither holds requests nor answers 304 is not polled in a
		// busy loop.
		pause := !pg.waited
		if pg.notModified {
			p.count(func(st *Stats) { st.NotModified++ })
		} else {
			last := s.cp.LastID
			head, err = p.catchUpFrom(ctx, s, pg)
			if err != nil {
				return err
			}
			hadETag := etag != ""
			pollURL, etag = head.pollTarget()
			if s.cp.LastID != last || !hadETag && etag != "" && p.cfg.Wait > 0 {
				pause = false
			}
		}
		if pause {
			if err := sleep(ctx, p.interval(pg)); err != nil {
				return err
			}
		}
	}
}

// notYet reports whether err is a 404 of the source URL on a first run:
// a feed that may not have its first event yet.
func (p *Poller) notYet(s *session, err error) bool {
	var he *HTTPError
	return !s.resuming() && errors.As(err, &he) && he.Status == http.StatusNotFound &&
		he.URL == p.source.String() && !errors.Is(err, eventfeed.ErrFeedReset)
}

// interval is the pause before the next poll after pg, when the server did
// not hold the request.
func (p *Poller) interval(pg *page) time.Duration {
	return min(max(pg.maxAge, p.cfg.MinInterval), p.cfg.MaxInterval)
}

func (p *Poller) closeIdle() {
	if p.ownClient {
		p.client.CloseIdleConnections()
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
