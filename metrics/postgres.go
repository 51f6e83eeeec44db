package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfeed/eventfeed/store/postgres"
)

// statsTimeout bounds the database query of one scrape.
const statsTimeout = 5 * time.Second

// PostgresCollector is a prometheus.Collector of a PostgreSQL Log's
// sequencing Stats. Each scrape asks the database once.
type PostgresCollector struct {
	l      *postgres.Log
	logger *slog.Logger

	leading, alive, changes, outbox, lag, rejected *prometheus.Desc
}

var _ prometheus.Collector = (*PostgresCollector)(nil)

// NewPostgresCollector returns a collector of l's Stats. A scrape whose
// query fails reports only what this instance knows without asking
// (leading, leader changes) and logs the failure to logger (nil: none).
func NewPostgresCollector(l *postgres.Log, logger *slog.Logger) *PostgresCollector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("eventfeed_postgres_"+name, help, nil, nil)
	}
	return &PostgresCollector{
		l:        l,
		logger:   logger,
		leading:  d("sequencer_leading", "1 when this instance is the sequencer, else 0."),
		alive:    d("sequencer_alive", "1 when some instance holds the sequencer's lock, else 0."),
		changes:  d("sequencer_leader_changes_total", "Times this instance became the sequencer or stopped being it."),
		outbox:   d("outbox_events", "Events committed to the outbox and not yet sequenced into the log."),
		lag:      d("sequencer_lag_seconds", "How long the oldest event in the outbox has waited to be sequenced."),
		rejected: d("rejected_events", "Rows in the rejected table: events whose ID was stored with other content."),
	}
}

// Describe implements prometheus.Collector.
func (c *PostgresCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leading, c.alive, c.changes, c.outbox, c.lag, c.rejected} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PostgresCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	st, err := c.l.Stats(ctx)
	ch <- prometheus.MustNewConstMetric(c.leading, prometheus.GaugeValue, boolValue(st.Leading))
	ch <- prometheus.MustNewConstMetric(c.changes, prometheus.CounterValue, float64(st.LeaderChanges))
	if err != nil {
		// The other series go missing from this scrape, which Prometheus
		// shows as a gap, rather than failing the scrape of everything.
		c.logger.Warn("metrics: PostgreSQL stats", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.alive, prometheus.GaugeValue, boolValue(st.SequencerAlive))
	ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(st.Outbox))
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, st.OutboxAge.Seconds())
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.GaugeValue, float64(st.Rejected))
}
