package publisher

import (
	"sync/atomic"
	"time"
)

// RenderBuckets are the upper bounds, in seconds, of the classes by which
// Stats.RenderTime counts renders.
var RenderBuckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

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
	// RenderTime counts the renders of pages and entries by how long each
	// took, reading the log included: RenderTime[i] those that took at
	// most RenderBuckets[i] and more than the bound before; the last, the
	// slower ones. RenderSeconds is their total time.
	RenderTime    [len(RenderBuckets) + 1]uint64
	RenderSeconds float64
}

type counters struct {
	requests, notModified, cacheHits, cacheMisses, renders atomic.Uint64
	longPolls, appends, clientErrors, serverErrors         atomic.Uint64
	bodiesCutOff                                           atomic.Uint64
	waiting                                                atomic.Int64
	renderTime                                             [len(RenderBuckets) + 1]atomic.Uint64
	renderNanos                                            atomic.Int64
}

// timeRender counts a render that began at start.
func (c *counters) timeRender(start time.Time) {
	d := time.Since(start)
	c.renderNanos.Add(int64(d))
	i := 0
	for i < len(RenderBuckets) && d.Seconds() > RenderBuckets[i] {
		i++
	}
	c.renderTime[i].Add(1)
}

// Stats returns the Handler's counts so far.
func (h *Handler) Stats() Stats {
	c := &h.stats
	var rt [len(RenderBuckets) + 1]uint64
	for i := range rt {
		rt[i] = c.renderTime[i].Load()
	}
	h.cacheMu.Lock()
	docs, bytes := h.cache.Len(), h.cacheBytes
	h.cacheMu.Unlock()
	return Stats{
		RenderTime:    rt,
		RenderSeconds: time.Duration(c.renderNanos.Load()).Seconds(),
		Requests:      c.requests.Load(),
		NotModified:   c.notModified.Load(),
		CacheHits:     c.cacheHits.Load(),
		CacheMisses:   c.cacheMisses.Load(),
		Renders:       c.renders.Load(),
		LongPolls:     c.longPolls.Load(),
		Waiting:       c.waiting.Load(),
		Appends:       c.appends.Load(),
		ClientErrors:  c.clientErrors.Load(),
		ServerErrors:  c.serverErrors.Load(),
		BodiesCutOff:  c.bodiesCutOff.Load(),
		CachedDocs:    docs,
		CachedBytes:   bytes,
	}
}
