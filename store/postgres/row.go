package postgres

import (
	"fmt"
	"time"

	"github.com/eventfeed/eventfeed"
)

// PostgreSQL's timestamptz keeps microseconds. A time is stored as the
// microsecond it falls in plus the nanoseconds past it (time_ns), so that it
// reads back equal to what was stored.

// splitTime returns t truncated to the microsecond and the nanoseconds
// past that microsecond.
func splitTime(t time.Time) (time.Time, int16) {
	return t.Truncate(time.Microsecond), int16(t.Nanosecond() % 1000)
}

// joinTime undoes splitTime, in UTC.
func joinTime(t time.Time, ns int16) time.Time {
	return t.Add(time.Duration(ns)).UTC()
}

// checkTime reports whether t can be stored and written as RFC 3339: a
// year from 1 to 9999.
func checkTime(t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: Time %s is outside years 1 to 9999", eventfeed.ErrInvalidEvent, t)
	}
	return nil
}

// data returns b as bytea wants it: never nil, which would be NULL.
func data(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// eventColumns are the columns scanEvent reads, in its order.
const eventColumns = `feed, seq, id, type, subject, time, time_ns, content_type, data`

// scanner is what pgx.Row and pgx.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// scanEvent reads the eventColumns of a row, then the columns after them
// into extra.
func scanEvent(row scanner, extra ...any) (eventfeed.Event, error) {
	var (
		e   eventfeed.Event
		seq int64
		t   time.Time
		ns  int16
	)
	dest := append([]any{&e.Feed, &seq, &e.ID, &e.Type, &e.Subject, &t, &ns, &e.ContentType, &e.Data}, extra...)
	if err := row.Scan(dest...); err != nil {
		return eventfeed.Event{}, err
	}
	e.Seq = uint64(seq)
	e.Time = joinTime(t, ns)
	if len(e.Data) == 0 {
		e.Data = nil
	}
	return e, nil
}
