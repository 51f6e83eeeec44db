// Package metrics exposes what eventfeed's publisher, poller and stores
// report in Prometheus form, for github.com/prometheus/client_golang.
//
// It is a package of its own so that importing publisher or poller does
// not bring in the Prometheus client. Its collectors read the Stats the
// other packages already keep, at scrape time: nothing is counted twice,
// and a collector costs nothing between scrapes.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewPollerCollector(p))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # Names
//
// Every metric is named eventfeed_{component}_{what}_{unit}, in base units
// (seconds, bytes), counters ending in _total, and labels take a bounded set
// of values: a poller's feed name, a document kind, an HTTP status code;
// never an event, a URL or a path.
//
// # Poller
//
//	eventfeed_poller_lag_events                  gauge    newest ef:seq seen at the source minus the last applied
//	eventfeed_poller_lag_seconds                 gauge    now minus the atom:updated of the last applied entry
//	eventfeed_poller_last_success_age_seconds    gauge    time since a request to the feed last succeeded
//	eventfeed_poller_checkpoint_age_seconds      gauge    time since the checkpoint was last committed
//	eventfeed_poller_caught_up                   gauge    1 when the last catch-up reached the head
//	eventfeed_poller_entries_applied_total       counter
//	eventfeed_poller_pages_fetched_total         counter  pages fetched and decoded
//	eventfeed_poller_fetches_total{outcome}      counter  outcome: ok, not_modified, cached, error
//	eventfeed_poller_retries_total               counter
//	eventfeed_poller_dead_letters_total          counter  events parked
//	eventfeed_poller_duplicates_total            counter  entries dropped as already applied
//
// Each poller's metrics carry its feed name as the label feed. The age
// gauges are absent until there is something to measure.
//
// # Publisher
//
//	eventfeed_publisher_requests_total{kind,code}      counter  kind: service, subscription, page, entry, append, other
//	eventfeed_publisher_page_cache_hits_total          counter
//	eventfeed_publisher_page_cache_misses_total        counter
//	eventfeed_publisher_page_cache_documents           gauge
//	eventfeed_publisher_page_cache_bytes               gauge
//	eventfeed_publisher_render_duration_seconds        histogram  pages and entries, reading the log included
//	eventfeed_publisher_long_polls_total               counter
//	eventfeed_publisher_long_polls_waiting             gauge
//	eventfeed_publisher_appends_total{outcome}         counter  outcome: accepted, refused
//
// Requests by kind and status, and refused appends, are counted by the
// handler that [PublisherCollector.Instrument] wraps around the publisher.
//
// # Stores
//
//	eventfeed_postgres_sequencer_leading               gauge    1 on the instance that sequences
//	eventfeed_postgres_sequencer_alive                 gauge    1 when some instance sequences
//	eventfeed_postgres_sequencer_leader_changes_total  counter
//	eventfeed_postgres_outbox_events                   gauge    committed, not yet sequenced
//	eventfeed_postgres_sequencer_lag_seconds           gauge    how long the oldest of them has waited
//	eventfeed_postgres_rejected_events                 gauge    rows in the rejected table
//	eventfeed_store_append_duration_seconds{store}     histogram  Append calls through [TimedLog]
package metrics
