package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfeed/eventfeed/publisher"
)

// PublisherCollector is a prometheus.Collector of a publisher Handler's
// Stats, and of the requests that Instrument counts.
type PublisherCollector struct {
	h *publisher.Handler

	requests                    *prometheus.Desc
	hits, misses, docs, bytes   *prometheus.Desc
	render                      *prometheus.Desc
	longPolls, waiting, appends *prometheus.Desc
	byKind                      sync.Map // requestKey → *atomic.Uint64
	refused                     atomic.Uint64
}

// requestKey is a label pair of eventfeed_publisher_requests_total.
type requestKey struct {
	kind string
	code int
}

var _ prometheus.Collector = (*PublisherCollector)(nil)

// NewPublisherCollector returns a collector of h's Stats.
func NewPublisherCollector(h *publisher.Handler) *PublisherCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("eventfeed_publisher_"+name, help, labels, nil)
	}
	return &PublisherCollector{
		h:         h,
		requests:  d("requests_total", "Requests answered, by document kind and HTTP status code (counted by the instrumented handler).", "kind", "code"),
		hits:      d("page_cache_hits_total", "Archive pages and entries served from the page cache."),
		misses:    d("page_cache_misses_total", "Archive pages and entries not in the page cache."),
		docs:      d("page_cache_documents", "Documents in the page cache."),
		bytes:     d("page_cache_bytes", "Size of the documents in the page cache, both codings."),
		render:    d("render_duration_seconds", "Time to render a page or an entry, reading the log included."),
		longPolls: d("long_polls_total", "Requests that waited for the head to move."),
		waiting:   d("long_polls_waiting", "Long polls waiting now."),
		appends:   d("appends_total", "Appends over HTTP by outcome: accepted (201, replays included) or refused (any error answer).", "outcome"),
	}
}

// Describe implements prometheus.Collector.
func (c *PublisherCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.hits, c.misses, c.docs, c.bytes, c.render, c.longPolls, c.waiting, c.appends} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PublisherCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter(c.hits, st.CacheHits)
	counter(c.misses, st.CacheMisses)
	gauge(c.docs, float64(st.CachedDocs))
	gauge(c.bytes, float64(st.CachedBytes))
	counter(c.longPolls, st.LongPolls)
	gauge(c.waiting, float64(st.Waiting))
	counter(c.appends, st.Appends, "accepted")
	counter(c.appends, c.refused.Load(), "refused")

	buckets := make(map[float64]uint64, len(publisher.RenderBuckets))
	var n uint64
	for i, le := range publisher.RenderBuckets {
		n += st.RenderTime[i]
		buckets[le] = n
	}
	n += st.RenderTime[len(publisher.RenderBuckets)]
	ch <- prometheus.MustNewConstHistogram(c.render, n, st.RenderSeconds, buckets)

	c.byKind.Range(func(k, v any) bool {
		counter(c.requests, v.(*atomic.Uint64).Load(), k.(requestKey).kind, strconv.Itoa(k.(requestKey).code))
		return true
	})
}

// Instrument returns next, the publisher mounted at prefix (as in its
// Config.Prefix, "" at the root), counting each request by the kind of
// document asked for and the status of the answer. Requests outside
// prefix are passed on uncounted.
func (c *PublisherCollector) Instrument(prefix string, next http.Handler) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		kind := requestKind(r.Method, rest)
		if kind == "append" && sw.status >= 400 {
			c.refused.Add(1)
		}
		c.count(requestKey{kind, sw.status})
	})
}

// count counts a request; after the first of each key it takes no lock.
func (c *PublisherCollector) count(k requestKey) {
	n, ok := c.byKind.Load(k)
	if !ok {
		n, _ = c.byKind.LoadOrStore(k, new(atomic.Uint64))
	}
	n.(*atomic.Uint64).Add(1)
}

// requestKind tells the kind of document a request below the publisher's
// prefix asks for, from the shape of the path that publisher.Handler
// serves: "/" the service document, "/{feed}" the subscription document
// (or an append, when POSTed), "/{feed}/{epoch}/pages/{k}" a page,
// "/{feed}/{epoch}/entries/{seq}" an entry. Anything else is "other", so
// that the label's values stay few whatever clients ask for.
func requestKind(method, path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "":
		return "service"
	case len(parts) == 1 && method == http.MethodPost:
		return "append"
	case len(parts) == 1:
		return "subscription"
	case len(parts) == 4 && parts[2] == "pages":
		return "page"
	case len(parts) == 4 && parts[2] == "entries":
		return "entry"
	}
	return "other"
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
