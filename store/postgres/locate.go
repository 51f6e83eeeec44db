package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/eventfeed/eventfeed"
)

// Locate returns the feed and seq of the event with id, through the
// index that makes appends idempotent; ok is false when the log has no
// such event (events still in the outbox, not yet sequenced, included).
// A publisher uses it to resolve the lastEventId of an http-feeds request.
func (l *Log) Locate(ctx context.Context, id string) (feed string, seq uint64, ok bool, err error) {
	if l.closed.Load() {
		return "", 0, false, eventfeed.ErrClosed
	}
	q := fmt.Sprintf(`SELECT feed, seq FROM %s.events WHERE id = $1`, pgx.Identifier{l.schema}.Sanitize())
	var s int64
	err = l.pool.QueryRow(ctx, q, id).Scan(&feed, &s)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", 0, false, nil
	case err != nil:
		return "", 0, false, fmt.Errorf("postgres: locate %q: %w", id, err)
	}
	return feed, uint64(s), true, nil
}
