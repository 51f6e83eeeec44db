package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/eventfeed/eventfeed"
)

// Locate returns the feed and seq of the event with id, through the
// index that makes appends idempotent; ok is false when the Log has no
// such event. A publisher uses it to resolve the lastEventId of an
// http-feeds request.
func (l *Log) Locate(ctx context.Context, id string) (feed string, seq uint64, ok bool, err error) {
	if l.closed.Load() {
		return "", 0, false, eventfeed.ErrClosed
	}
	var s int64
	err = l.db.QueryRowContext(ctx, `SELECT feed, seq FROM eventfeed_events WHERE id = ?`, id).Scan(&feed, &s)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", 0, false, nil
	case err != nil:
		return "", 0, false, l.fail(ctx, "locate", err)
	}
	return feed, uint64(s), true, nil
}
