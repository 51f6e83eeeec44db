package poller

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/store"
)

// page is one decoded feed document.
type page struct {
	url string // the URL requested, absolute: how the feed links to it
	// Links of the document, resolved against the URL it came from (after
	// redirects); "" when absent.
	self, current, via, first, prev, next string
	// last, newer and older are the RFC 5005 §3 paging links of a paged
	// feed: last, previous (or prev) and next, read the way EventStoreDB
	// writes them: last is the oldest page, previous leads to newer
	// entries, next to older ones. The order of the entries (by seq)
	// checks that reading.
	last, newer, older string
	// paged reports a paged feed (RFC 5005 §3): paging links and no
	// archive links.
	paged bool
	// archive reports an archive document: fh:archive, or a next-archive
	// link (a page with a successor is full and never changes).
	archive bool
	// events are the page's entries: in seq order when every entry
	// carries ef:seq (seq), else in the document's order (see arrange).
	events []eventfeed.Event
	seq    bool
	// dir is the order of the entries in the document, as told by their
	// times; OrderUnknown when they cannot tell (and for seq pages).
	dir store.Order

	// srcs maps the IDs of entries with out-of-line content to the
	// content's URL, until fetchContents fetched it; failed holds the
	// entries whose content could not be fetched, by ID.
	srcs   map[string]string
	failed map[string]error

	etag        string
	maxAge      time.Duration // Cache-Control max-age, 0 when absent
	waited      bool          // the server held the request (Preference-Applied: wait)
	notModified bool          // a 304: no document
	size        int64         // decoded body size, for the page cache
}

// setLinks sets the links of pg from those of its document, resolved
// against base, the URL it came from. The first link of a rel counts.
func (pg *page) setLinks(base *url.URL, links []feed.Link) error {
	for _, l := range links {
		var dst *string
		switch l.Rel {
		case feed.RelSelf:
			dst = &pg.self
		case feed.RelCurrent:
			dst = &pg.current
		case feed.RelVia:
			// Only a feed's via is the working page's permanent URL;
			// some feeds use via for the web page they came from.
			if t := strings.ToLower(l.Type); t != "" && !strings.Contains(t, "xml") {
				continue
			}
			dst = &pg.via
		case feed.RelFirst:
			dst = &pg.first
		case feed.RelPrevArchive:
			dst = &pg.prev
		case feed.RelNextArchive:
			dst = &pg.next
		case feed.RelLast:
			dst = &pg.last
		case feed.RelPrevious, "prev":
			dst = &pg.newer
		case feed.RelNext:
			dst = &pg.older
		default:
			continue
		}
		if *dst != "" {
			continue
		}
		ref, err := url.Parse(strings.TrimSpace(l.Href))
		if err != nil {
			return fmt.Errorf("%w: %s: bad %s link %q: %w", ErrNotAFeed, pg.url, l.Rel, l.Href, err)
		}
		abs := base.ResolveReference(ref)
		abs.Fragment, abs.RawFragment = "", ""
		*dst = abs.String()
	}
	return nil
}

// setKind tells from pg's links, and from whether its document carries
// fh:archive, whether it is an archive or a page of a paged feed.
func (pg *page) setKind(fhArchive bool) {
	pg.archive = fhArchive || pg.next != ""
	pg.paged = !pg.archive && pg.prev == "" && (pg.last != "" || pg.newer != "" || pg.older != "")
}

// stableURL is the URL to resume from when the last applied entry is on
// pg: an archive's own URL, or the working page's permanent URL (via) for
// a subscription document, so that a resume finds the entry even after
// the head has moved on. Without via it is the URL requested.
func (pg *page) stableURL(p *Poller) string {
	if !pg.archive && pg.via != "" && pg.via != pg.url {
		if u, err := parseAbs(pg.via); err == nil && p.checkOrigin(u) == nil {
			return pg.via
		}
	}
	return pg.url
}

// successor is the page to apply after pg: its next-archive, or for a
// paged feed the page of newer entries, unless pg is empty (a paged
// feed's pages past its head are empty until entries arrive).
func (pg *page) successor() string {
	if pg.paged {
		if len(pg.events) == 0 {
			return ""
		}
		return pg.newer
	}
	return pg.next
}

// predecessor is the page of older entries: prev-archive, or for a paged
// feed its next link.
func (pg *page) predecessor() string {
	if pg.paged {
		return pg.older
	}
	return pg.prev
}

// pollTarget is the URL to poll once pg, the head, has been applied: the
// subscription document (current), with the ETag to send when pg is it.
func (pg *page) pollTarget() (string, string) {
	u := pg.current
	if u == "" || u == pg.url {
		return pg.url, pg.etag
	}
	return u, ""
}

// index returns the position of the entry with id in pg.events, or -1.
func (pg *page) index(id string) int {
	for i := range pg.events {
		if pg.events[i].ID == id {
			return i
		}
	}
	return -1
}

// seqRange returns the lowest and highest ef:seq on pg (0, 0 when it has
// no entries or no seqs).
func (pg *page) seqRange() (lo, hi uint64) {
	if !pg.seq || len(pg.events) == 0 {
		return 0, 0
	}
	return pg.events[0].Seq, pg.events[len(pg.events)-1].Seq
}

// sortBySeq sorts events by ef:seq when every entry has one, and reports
// whether it did.
func sortBySeq(events []eventfeed.Event) bool {
	if len(events) == 0 {
		return false
	}
	for i := range events {
		if events[i].Seq == 0 {
			return false
		}
	}
	if !slices.IsSortedFunc(events, bySeq) {
		slices.SortStableFunc(events, bySeq)
	}
	return true
}

// direction tells the order of a document's entries from those whose
// times differ (a vote of neighbours): OrderUnknown when it cannot be
// told, such as when every entry has the same time.
func direction(events []eventfeed.Event) store.Order {
	vote := 0
	for i := 1; i < len(events); i++ {
		switch events[i-1].Time.Compare(events[i].Time) {
		case -1:
			vote++ // older before newer
		case 1:
			vote--
		}
	}
	switch {
	case vote > 0:
		return store.OrderOldestFirst
	case vote < 0:
		return store.OrderNewestFirst
	}
	return store.OrderUnknown
}

// arrange returns the entries of a document without seqs in the order to
// apply them: by time, entries with equal times in the document's
// direction dir, newest-first (the common convention) when unknown. The
// events given are not changed: they may belong to a cached page.
func arrange(events []eventfeed.Event, dir store.Order) []eventfeed.Event {
	out := slices.Clone(events)
	if dir != store.OrderOldestFirst {
		slices.Reverse(out)
	}
	slices.SortStableFunc(out, func(a, b eventfeed.Event) int { return a.Time.Compare(b.Time) })
	return out
}

func bySeq(a, b eventfeed.Event) int {
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// pageCache keeps decoded archive pages (they never change) so that a walk
// back over prev-archive links does not fetch them again on the way
// forward. It is bounded by the pages' decoded sizes.
type pageCache struct {
	mu    sync.Mutex
	lru   *lru.Cache[string, *page]
	bytes int64
	limit int64
}

// pageCacheSlots bounds the number of pages cached, whatever their size.
const pageCacheSlots = 256

func newPageCache(limit int64) *pageCache {
	c := &pageCache{limit: limit}
	// The eviction callback runs inside the cache's methods, which are
	// called with c.mu held.
	c.lru, _ = lru.NewWithEvict(pageCacheSlots, func(_ string, pg *page) { c.bytes -= pg.size })
	return c
}

func (c *pageCache) get(url string) (*page, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Get(url)
}

func (c *pageCache) add(pg *page) {
	if !pg.archive || pg.size > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(pg.url) {
		return
	}
	c.lru.Add(pg.url, pg)
	c.bytes += pg.size
	for c.bytes > c.limit {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}
