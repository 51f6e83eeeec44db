package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stats is what a Log reports of its sequencing, for monitoring.
type Stats struct {
	// Leading reports that this instance is the sequencer now.
	Leading bool
	// LeaderChanges counts the times this instance became the sequencer
	// or stopped being it.
	LeaderChanges uint64
	// SequencerAlive reports that some instance, this one or another,
	// holds the sequencer's lock: without one, appends are stored in the
	// outbox and wait.
	SequencerAlive bool
	// Outbox is the number of events committed to the outbox and not yet
	// sequenced into the log.
	Outbox int64
	// OutboxAge is how long the oldest of them has waited, by the time it
	// was written (events given a Time of their own are not counted); 0
	// when none waits.
	OutboxAge time.Duration
	// Rejected is the number of rows in the rejected table: events whose
	// ID was already stored with other content, or whose transaction
	// failed every sequencing round it was tried in.
	Rejected int64

	// Counts of what this instance's sequencer and listener did since the
	// Log was opened; known without asking the database.
	Rounds       uint64 // sequencing transactions committed
	RoundsFailed uint64 // sequencing transactions that failed
	RowsRejected uint64 // outbox rows moved to the rejected table
	Resyncs      uint64 // rereads of every head
}

// Stats returns the Log's sequencing figures. It asks the database, in
// one round trip; when that fails, the error comes with the fields this
// instance knows without asking (Leading, LeaderChanges and the counts).
func (l *Log) Stats(ctx context.Context) (Stats, error) {
	s := pgx.Identifier{l.schema}.Sanitize()
	key := lockKey(l.schema, "sequencer")
	// An advisory lock on one bigint shows in pg_locks as its high 32 bits
	// in classid and its low 32 bits in objid, with objsubid 1.
	q := fmt.Sprintf(`SELECT
	(SELECT count(*) FROM %[1]s.outbox),
	(SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(time)), 0)::float8 FROM %[1]s.outbox WHERE NOT time_given),
	(SELECT count(*) FROM %[1]s.rejected),
	EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid::int8 = $1 AND objid::int8 = $2)`, s)
	known := Stats{
		Leading:       l.leading.Load(),
		LeaderChanges: l.leaderChanges.Load(),
		Rounds:        l.stats.rounds.Load(),
		RoundsFailed:  l.stats.roundsFailed.Load(),
		RowsRejected:  l.stats.rowsRejected.Load(),
		Resyncs:       l.stats.resyncs.Load(),
	}
	st := known
	var age float64
	err := l.pool.QueryRow(ctx, q, int64(uint32(uint64(key)>>32)), int64(uint32(key))).
		Scan(&st.Outbox, &age, &st.Rejected, &st.SequencerAlive)
	if err != nil {
		return known, fmt.Errorf("postgres: stats: %w", err)
	}
	st.OutboxAge = time.Duration(max(age, 0) * float64(time.Second))
	return st, nil
}
