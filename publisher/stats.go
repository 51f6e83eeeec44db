package publisher

import "sync/atomic"

// Stats are counts of what a Handler did since New. Every field but
// Waiting and CachedBytes only grows.
type Stats struct {
	Requests     uint64 // requests received
	NotModified  uint64 // 304 answers
	CacheHits    uint64 // archive pages and entries served from the page cache
	CacheMisses  uint64 // archive pages and entries not in it (rendered, or waited for)
	Renders      uint64 // documents rendered: pages, entries, head and service documents
	LongPolls    uint64 // requests that waited for the head to move
	Waiting      int64  // long polls waiting now
	Appends      uint64 // events stored over HTTP (201 answers, replays included)
	ClientErrors uint64 // 4xx answers
	ServerErrors uint64 // 5xx answers
	BodiesCutOff uint64 // request bodies not read within Config.BodyTimeout
	CachedDocs   int    // documents in the page cache
	CachedBytes  int64  // their size, both codings
}

type counters struct {
	requests, notModified, cacheHits, cacheMisses, renders atomic.Uint64
	longPolls, appends, clientErrors, serverErrors         atomic.Uint64
	bodiesCutOff                                           atomic.Uint64
	waiting                                                atomic.Int64
}

// Stats returns the Handler's counts so far.
func (h *Handler) Stats() Stats {
	c := &h.stats
	return Stats{
		Requests:     c.requests.Load(),
		NotModified:  c.notModified.Load(),
		CacheHits:    c.cacheHits.Load(),
		CacheMisses:  c.cacheMisses.Load(),
		Renders:      c.renders.Load(),
		LongPolls:    c.longPolls.Load(),
		Waiting:      c.waiting.Load(),
		Appends:      c.appends.Load(),
		ClientErrors: c.clientErrors.Load(),
		ServerErrors: c.serverErrors.Load(),
		BodiesCutOff: c.bodiesCutOff.Load(),
		CachedDocs:   h.cache.Len(),
		CachedBytes:  h.cacheBytes.Load(),
	}
}
