package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfeed/eventfeed/poller"
)

// A Follower is what a PollerCollector reads: a *poller.Poller or a
// *poller.HTTPFeed.
type Follower interface {
	Stats() poller.Stats
	FeedName() string
}

// PollerCollector is a prometheus.Collector of one Poller's Stats.
type PollerCollector struct {
	p   Follower
	now func() time.Time

	lagEvents, lagSeconds, lastSuccessAge, checkpointAge, caughtUp *prometheus.Desc
	applied, pages, fetches, retries, deadLetters, duplicates      *prometheus.Desc
}

var _ prometheus.Collector = (*PollerCollector)(nil)

// NewPollerCollector returns a collector of p's Stats, labelled with its
// feed name. Pollers of two feeds of one name (from two publishers) need
// a label of their own to share a registry: register them through
// prometheus.WrapRegistererWith.
func NewPollerCollector(p Follower) *PollerCollector {
	l := prometheus.Labels{"feed": p.FeedName()}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("eventfeed_poller_"+name, help, labels, l)
	}
	return &PollerCollector{
		p:              p,
		now:            time.Now,
		lagEvents:      d("lag_events", "Newest ef:seq seen at the source minus the last applied one (0 for feeds without ef:seq)."),
		lagSeconds:     d("lag_seconds", "Time since the atom:updated of the last applied entry."),
		lastSuccessAge: d("last_success_age_seconds", "Time since a request to the feed last succeeded (a page or a 304)."),
		checkpointAge:  d("checkpoint_age_seconds", "Time since the checkpoint was last committed."),
		caughtUp:       d("caught_up", "1 when the last catch-up reached the head of the feed, else 0."),
		applied:        d("entries_applied_total", "Entries applied to the replica."),
		pages:          d("pages_fetched_total", "Pages fetched and decoded."),
		fetches:        d("fetches_total", "Pages asked for, by outcome: ok (fetched), not_modified (304), cached (from the poller's page cache), error (failed requests and failed applies).", "outcome"),
		retries:        d("retries_total", "Waits before a retry."),
		deadLetters:    d("dead_letters_total", "Events parked as dead letters."),
		duplicates:     d("duplicates_total", "Entries dropped because they were already applied."),
	}
}

// Describe implements prometheus.Collector.
func (c *PollerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lagEvents, c.lagSeconds, c.lastSuccessAge, c.checkpointAge, c.caughtUp,
		c.applied, c.pages, c.fetches, c.retries, c.deadLetters, c.duplicates} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PollerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.Stats()
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	age := func(d *prometheus.Desc, t time.Time) {
		if !t.IsZero() {
			gauge(d, max(now.Sub(t), 0).Seconds())
		}
	}
	gauge(c.lagEvents, float64(st.SeqLag))
	age(c.lagSeconds, st.LastEvent)
	age(c.lastSuccessAge, st.LastPoll)
	age(c.checkpointAge, st.Checkpoint.Updated)
	gauge(c.caughtUp, boolValue(st.CaughtUp))
	counter(c.applied, st.Events)
	counter(c.pages, st.Pages)
	counter(c.fetches, st.Pages, "ok")
	counter(c.fetches, st.NotModified, "not_modified")
	counter(c.fetches, st.CacheHits, "cached")
	counter(c.fetches, st.Errors, "error")
	counter(c.retries, st.Retries)
	counter(c.deadLetters, st.Parked)
	counter(c.duplicates, st.Duplicates)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
