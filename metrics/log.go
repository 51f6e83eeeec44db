package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// appendBuckets are the bounds of eventfeed_store_append_duration_seconds:
// from a batched append to a local file to a commit over a slow disk.
var appendBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// TimedLog is a store.Log that measures how long each Append of the Log
// it wraps takes, as the histogram eventfeed_store_append_duration_seconds
// labelled with the store's name. It is itself the histogram's Collector.
type TimedLog struct {
	store.Log
	hist prometheus.Histogram
}

var (
	_ store.Log            = (*TimedLog)(nil)
	_ prometheus.Collector = (*TimedLog)(nil)
)

// NewTimedLog wraps l; name is the store's kind, such as "sqlite" or
// "postgres" (a label value: keep it to a few).
func NewTimedLog(l store.Log, name string) *TimedLog {
	return &TimedLog{Log: l, hist: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "eventfeed_store_append_duration_seconds",
		Help:        "Time an Append to the event log took, successful or not.",
		ConstLabels: prometheus.Labels{"store": name},
		Buckets:     appendBuckets,
	})}
}

// Append appends through the wrapped Log and observes how long it took.
func (l *TimedLog) Append(ctx context.Context, events ...eventfeed.Event) ([]eventfeed.Event, error) {
	start := time.Now()
	stored, err := l.Log.Append(ctx, events...)
	l.hist.Observe(time.Since(start).Seconds())
	return stored, err
}

// Describe implements prometheus.Collector.
func (l *TimedLog) Describe(ch chan<- *prometheus.Desc) { l.hist.Describe(ch) }

// Collect implements prometheus.Collector.
func (l *TimedLog) Collect(ch chan<- prometheus.Metric) { l.hist.Collect(ch) }

// Unwrap returns the Log l wraps, so that what that Log can do beyond
// store.Log (a store.Keyring's keys) stays within reach: the publisher
// serves keys through it.
func (l *TimedLog) Unwrap() store.Log { return l.Log }
