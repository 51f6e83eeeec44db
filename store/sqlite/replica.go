package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// A Projection applies one event to the replica's tables, within tx, the
// transaction that also stores the batch's checkpoint: if it fails, the
// whole batch is rolled back. Event.Feed names the source as the poller
// does (a feed name or URL).
type Projection func(ctx context.Context, tx *sql.Tx, ev eventfeed.Event) error

// ReplicaOptions configures a Replica. The zero value is ready to use.
type ReplicaOptions struct {
	// Projection applies each event. Nil means Latest, through statements
	// prepared once instead of for each call.
	Projection Projection

	// BusyTimeout is how long a write waits for another connection's
	// transaction before failing. Zero means DefaultBusyTimeout.
	BusyTimeout time.Duration

	// FullSync makes every commit durable against power loss and OS
	// crashes, at the cost of an fsync per commit. See Options.FullSync.
	FullSync bool
}

// DeadLetter is an event parked by Replica.Park.
type DeadLetter struct {
	Source string
	Event  eventfeed.Event
	Reason string
	Parked time.Time
}

// Replica is a store.Replica in an SQLite file: each batch of events is
// applied by the Projection and committed with its checkpoint in one
// transaction. Every method is safe for concurrent use.
type Replica struct {
	db      *sql.DB
	path    string
	project Projection
	closed  atomic.Bool

	writing chan struct{} // serialises the write transactions on writer, as Log's
	writer  *sql.Conn

	stmts                                                      []*sql.Stmt
	getCheckpoint, putCheckpoint, park, deadLetters, getLatest *sql.Stmt
	version                                                    *sql.Stmt
	putLatest, putLatestChunk, deleteLatest                    *sql.Stmt
}

var _ store.Replica = (*Replica)(nil)

// replicaSchema holds the migrations of the replica's tables, as logSchema
// does for the log's. Times of events are RFC 3339 text in UTC with nine
// fractional digits, so that any time a feed carries fits and sorts.
var replicaSchema = []string{
	`CREATE TABLE eventfeed_checkpoints (
		source  TEXT PRIMARY KEY,
		page    TEXT NOT NULL,
		last_id TEXT NOT NULL,
		seq     INTEGER NOT NULL,
		epoch   TEXT NOT NULL,
		updated INTEGER NOT NULL -- Unix nanoseconds
	) STRICT, WITHOUT ROWID;
	CREATE TABLE eventfeed_dead_letters (
		n            INTEGER PRIMARY KEY,
		source       TEXT NOT NULL,
		feed         TEXT NOT NULL,
		id           TEXT NOT NULL,
		seq          INTEGER NOT NULL,
		type         TEXT NOT NULL,
		subject      TEXT NOT NULL,
		time         TEXT NOT NULL,
		content_type TEXT NOT NULL,
		data         BLOB NOT NULL,
		reason       TEXT NOT NULL,
		parked_at    INTEGER NOT NULL, -- Unix nanoseconds
		UNIQUE (source, id)
	) STRICT;
	CREATE TABLE eventfeed_latest (
		feed         TEXT NOT NULL,
		subject      TEXT NOT NULL,
		id           TEXT NOT NULL,
		seq          INTEGER NOT NULL,
		type         TEXT NOT NULL,
		time         TEXT NOT NULL,
		content_type TEXT NOT NULL,
		data         BLOB NOT NULL,
		PRIMARY KEY (feed, subject)
	) STRICT;`,
	// Version 2: what a consumer learned of a feed without seqs (the
	// order of its entries, the IDs applied last) and the version that
	// fences Apply and Park.
	`ALTER TABLE eventfeed_checkpoints ADD COLUMN entry_order INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE eventfeed_checkpoints ADD COLUMN recent TEXT NOT NULL DEFAULT '';
	ALTER TABLE eventfeed_checkpoints ADD COLUMN version INTEGER NOT NULL DEFAULT 0;`,
}

const (
	getCheckpointQuery = `SELECT page, last_id, seq, epoch, entry_order, recent, version, updated FROM eventfeed_checkpoints WHERE source = ?`
	versionQuery       = `SELECT version FROM eventfeed_checkpoints WHERE source = ?`
	putCheckpointQuery = `INSERT INTO eventfeed_checkpoints (source, page, last_id, seq, epoch, entry_order, recent, version, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET page = excluded.page, last_id = excluded.last_id,
		seq = excluded.seq, epoch = excluded.epoch, entry_order = excluded.entry_order, recent = excluded.recent,
		version = excluded.version, updated = excluded.updated`
	parkQuery = `INSERT INTO eventfeed_dead_letters (source, feed, id, seq, type, subject, time, content_type, data, reason, parked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, id) DO UPDATE SET feed = excluded.feed, seq = excluded.seq, type = excluded.type,
		subject = excluded.subject, time = excluded.time, content_type = excluded.content_type,
		data = excluded.data, reason = excluded.reason, parked_at = excluded.parked_at`
	deadLettersQuery = `SELECT feed, id, seq, type, subject, time, content_type, data, reason, parked_at
		FROM eventfeed_dead_letters WHERE source = ? ORDER BY n`
	getLatestQuery = `SELECT id, seq, type, time, content_type, data FROM eventfeed_latest WHERE feed = ? AND subject = ?`
	putLatestQuery = `INSERT INTO eventfeed_latest (feed, subject, id, seq, type, time, content_type, data) VALUES ` +
		latestRow + latestUpsert
	deleteLatestQuery = `DELETE FROM eventfeed_latest WHERE feed = ? AND subject = ?`
	latestRow         = `(?, ?, ?, ?, ?, ?, ?, ?)`
	latestUpsert      = ` ON CONFLICT (feed, subject) DO UPDATE SET id = excluded.id, seq = excluded.seq, type = excluded.type,
		time = excluded.time, content_type = excluded.content_type, data = excluded.data`
)

// latestChunk is how many events the default projection writes per
// statement: one statement per event costs more than the row itself.
const latestChunk = 32

// putLatestChunkQuery upserts latestChunk events. Rows are upserted in
// order, so the last event of a subject in the chunk wins.
var putLatestChunkQuery = `INSERT INTO eventfeed_latest (feed, subject, id, seq, type, time, content_type, data) VALUES ` +
	strings.Repeat(latestRow+", ", latestChunk-1) + latestRow + latestUpsert

// OpenReplica opens the replica in the SQLite file at path, creating the
// file and its tables as needed. The Projection's own tables may live in
// the same file: create them through DB.
func OpenReplica(ctx context.Context, path string, opt ReplicaOptions) (*Replica, error) {
	db, err := openDB(ctx, path, opt.BusyTimeout, opt.FullSync)
	if err != nil {
		return nil, err
	}
	r := &Replica{db: db, path: path, project: opt.Projection, writing: make(chan struct{}, 1)}
	if err := r.init(ctx); err != nil {
		r.release()
		db.Close()
		return nil, err
	}
	return r, nil
}

func (r *Replica) init(ctx context.Context) error {
	if err := migrate(ctx, r.db, r.path, "replica", replicaSchema); err != nil {
		return err
	}
	stmts, err := prepare(ctx, r.db, getCheckpointQuery, putCheckpointQuery, parkQuery, deadLettersQuery, getLatestQuery, putLatestQuery, putLatestChunkQuery, versionQuery, deleteLatestQuery)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", r.path, err)
	}
	r.stmts = stmts
	r.getCheckpoint, r.putCheckpoint, r.park, r.deadLetters = stmts[0], stmts[1], stmts[2], stmts[3]
	r.getLatest, r.putLatest, r.putLatestChunk, r.version = stmts[4], stmts[5], stmts[6], stmts[7]
	r.deleteLatest = stmts[8]
	if r.writer, err = writer(ctx, r.db, replicaCacheKiB); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", r.path, err)
	}
	return nil
}

func (r *Replica) release() {
	closeAll(r.stmts)
	if r.writer != nil {
		r.writer.Close()
	}
}

// errNoSource reports a checkpoint without a Source.
var errNoSource = errors.New("sqlite: checkpoint has no source")

// Checkpoint returns the checkpoint of source, zero (with Source set) when
// it was never applied.
func (r *Replica) Checkpoint(ctx context.Context, source string) (store.Checkpoint, error) {
	if r.closed.Load() {
		return store.Checkpoint{}, eventfeed.ErrClosed
	}
	cp := store.Checkpoint{Source: source}
	var (
		seq, order, version, updated int64
		recent                       string
	)
	err := r.getCheckpoint.QueryRowContext(ctx, source).Scan(&cp.Page, &cp.LastID, &seq, &cp.Epoch, &order, &recent, &version, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cp, nil
	case err != nil:
		return store.Checkpoint{}, r.fail(ctx, "checkpoint", err)
	}
	if recent != "" {
		if err := json.Unmarshal([]byte(recent), &cp.Recent); err != nil {
			return store.Checkpoint{}, fmt.Errorf("sqlite: checkpoint of %s: stored recent IDs: %w", source, err)
		}
	}
	cp.Seq, cp.Order, cp.Version, cp.Updated = uint64(seq), store.Order(order), uint64(version), time.Unix(0, updated).UTC()
	return cp, nil
}

// Apply applies events with the Projection and stores cp, in one
// transaction. When the Projection fails, nothing of the batch is kept and
// the error is a *store.ApplyError; when ctx ends, it is ctx's error.
func (r *Replica) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	return r.write(ctx, cp, "apply", func(tx *sql.Tx) error {
		if r.project == nil {
			return r.applyLatest(ctx, tx, events)
		}
		// The Latest function, when the Projection calls it, finds the
		// statement prepared at open in pctx instead of preparing its
		// own for each event.
		pctx := context.WithValue(ctx, latestKey{}, &boundLatest{tx: tx, stmt: tx.StmtContext(ctx, r.putLatest)})
		for _, ev := range events {
			if err := r.project(pctx, tx, ev); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				return &store.ApplyError{Event: ev, Err: err}
			}
		}
		return nil
	})
}

// applyLatest is the Latest projection of a whole batch, latestChunk
// events per statement.
func (r *Replica) applyLatest(ctx context.Context, tx *sql.Tx, events []eventfeed.Event) error {
	args := make([]any, 0, 8*min(len(events), latestChunk))
	i := 0
	if len(events) >= latestChunk {
		chunk := tx.StmtContext(ctx, r.putLatestChunk)
	chunks:
		for ; len(events)-i >= latestChunk; i += latestChunk {
			if slices.ContainsFunc(events[i:i+latestChunk], isTombstone) {
				break // a chunk with a tombstone goes one event at a time
			}
			args = args[:0]
			for _, ev := range events[i : i+latestChunk] {
				var err error
				if args, err = appendLatestArgs(args, ev); err != nil {
					break chunks // named below
				}
			}
			if _, err := chunk.ExecContext(ctx, args...); err != nil {
				if cerr := ctx.Err(); cerr != nil {
					return cerr
				}
				// The failed statement changed nothing: go on one event
				// at a time to name the event it failed on.
				break
			}
		}
	}
	one := tx.StmtContext(ctx, r.putLatest)
	var del *sql.Stmt
	for _, ev := range events[i:] {
		var err error
		if isTombstone(ev) {
			if del == nil {
				del = tx.StmtContext(ctx, r.deleteLatest)
			}
			_, err = del.ExecContext(ctx, ev.Feed, ev.Subject)
		} else if args, err = appendLatestArgs(args[:0], ev); err == nil {
			_, err = one.ExecContext(ctx, args...)
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return &store.ApplyError{Event: ev, Err: err}
		}
	}
	return nil
}

// Park records ev as a dead letter of cp.Source with reason, and stores
// cp, in one transaction. Parking an event again replaces its record.
func (r *Replica) Park(ctx context.Context, cp store.Checkpoint, ev eventfeed.Event, reason string) error {
	t, err := formatTime(ev.Time)
	if err != nil {
		return fmt.Errorf("sqlite: park %s: %w", ev.ID, err)
	}
	return r.write(ctx, cp, "park", func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, r.park).ExecContext(ctx, cp.Source, ev.Feed, ev.ID, int64(ev.Seq), ev.Type, ev.Subject,
			t, ev.ContentType, nonNil(ev.Data), reason, time.Now().UnixNano())
		return err
	})
}

// write runs apply and stores cp in one write transaction.
func (r *Replica) write(ctx context.Context, cp store.Checkpoint, op string, apply func(*sql.Tx) error) error {
	if cp.Source == "" {
		return errNoSource
	}
	if r.closed.Load() {
		return eventfeed.ErrClosed
	}
	if err := lock(ctx, r.writing); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	defer unlock(r.writing)
	var recent []byte
	if len(cp.Recent) > 0 {
		recent, _ = json.Marshal(cp.Recent) // strings cannot fail
	}
	tx, err := r.writer.BeginTx(ctx, nil)
	if err != nil {
		return r.fail(ctx, op, err)
	}
	defer tx.Rollback()
	// The transaction holds SQLite's write lock from its start, so that
	// no other connection, of this process or another, commits between
	// this check and the commit.
	var version int64
	switch err := tx.StmtContext(ctx, r.version).QueryRowContext(ctx, cp.Source).Scan(&version); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return r.fail(ctx, op, err)
	}
	if uint64(version) != cp.Version {
		return fmt.Errorf("sqlite: %s %s: %w (version %d, the call holds %d)", op, cp.Source, store.ErrCheckpointMoved, version, cp.Version)
	}
	if err := apply(tx); err != nil {
		if store.AsApplyError(err) != nil {
			return err
		}
		return r.fail(ctx, op, err)
	}
	if _, err := tx.StmtContext(ctx, r.putCheckpoint).ExecContext(ctx, cp.Source, cp.Page, cp.LastID, int64(cp.Seq), cp.Epoch,
		int64(cp.Order), string(recent), int64(cp.Version+1), time.Now().UnixNano()); err != nil {
		return r.fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return r.fail(ctx, op, err)
	}
	return nil
}

// Latest is the ready projection: it keeps the latest event of each
// (Feed, Subject) as a document, which Replica.Get reads. Call it from a
// Projection of your own to keep the documents beside your tables.
//
// A tombstone (Type eventfeed.TypeErased: the subject was erased) deletes
// the subject's document. An event of an erased subject that arrives
// without its data (see eventfeed.Event.Erased) is kept as any other,
// until its tombstone follows.
func Latest(ctx context.Context, tx *sql.Tx, ev eventfeed.Event) error {
	if isTombstone(ev) {
		_, err := tx.ExecContext(ctx, deleteLatestQuery, ev.Feed, ev.Subject)
		return err
	}
	args, err := appendLatestArgs(nil, ev)
	if err != nil {
		return err
	}
	if b, ok := ctx.Value(latestKey{}).(*boundLatest); ok && b.tx == tx {
		_, err = b.stmt.ExecContext(ctx, args...)
		return err
	}
	_, err = tx.ExecContext(ctx, putLatestQuery, args...)
	return err
}

// latestKey is the context key under which Apply hands Latest the
// Replica's upsert statement bound to the batch's transaction.
type latestKey struct{}

// boundLatest is the upsert statement of Latest bound to tx. Latest uses
// it only for that very transaction.
type boundLatest struct {
	tx   *sql.Tx
	stmt *sql.Stmt
}

// isTombstone reports whether ev erases its subject.
func isTombstone(ev eventfeed.Event) bool { return ev.Type == eventfeed.TypeErased }

func appendLatestArgs(args []any, ev eventfeed.Event) ([]any, error) {
	t, err := formatTime(ev.Time)
	if err != nil {
		return args, err
	}
	return append(args, ev.Feed, ev.Subject, ev.ID, int64(ev.Seq), ev.Type, t, ev.ContentType, nonNil(ev.Data)), nil
}

// Get returns the latest event applied for subject in feed by the Latest
// projection, or an error wrapping ErrNotFound.
func (r *Replica) Get(ctx context.Context, feed, subject string) (eventfeed.Event, error) {
	if r.closed.Load() {
		return eventfeed.Event{}, eventfeed.ErrClosed
	}
	ev := eventfeed.Event{Feed: feed, Subject: subject}
	var (
		seq int64
		t   string
	)
	err := r.getLatest.QueryRowContext(ctx, feed, subject).Scan(&ev.ID, &seq, &ev.Type, &t, &ev.ContentType, &ev.Data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventfeed.Event{}, fmt.Errorf("sqlite: get %q in %q: %w", subject, feed, ErrNotFound)
	case err != nil:
		return eventfeed.Event{}, r.fail(ctx, "get", err)
	}
	ev.Seq = uint64(seq)
	if ev.Time, err = parseTime(t); err != nil {
		return eventfeed.Event{}, fmt.Errorf("sqlite: get %q in %q: %w", subject, feed, err)
	}
	return ev, nil
}

// DeadLetters returns the events parked for source, in the order they
// were first parked.
func (r *Replica) DeadLetters(ctx context.Context, source string) ([]DeadLetter, error) {
	if r.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	rows, err := r.deadLetters.QueryContext(ctx, source)
	if err != nil {
		return nil, r.fail(ctx, "dead letters", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		d := DeadLetter{Source: source}
		var (
			seq, parked int64
			t           string
		)
		if err := rows.Scan(&d.Event.Feed, &d.Event.ID, &seq, &d.Event.Type, &d.Event.Subject, &t, &d.Event.ContentType, &d.Event.Data, &d.Reason, &parked); err != nil {
			return nil, r.fail(ctx, "dead letters", err)
		}
		if d.Event.Time, err = parseTime(t); err != nil {
			return nil, fmt.Errorf("sqlite: dead letters: %w", err)
		}
		d.Event.Seq, d.Parked = uint64(seq), time.Unix(0, parked).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, r.fail(ctx, "dead letters", err)
	}
	return out, nil
}

// DB returns the replica's database, to create and read the Projection's
// tables. Its transactions take SQLite's write lock when they begin
// (read-only ones excepted): keep them short. The pool holds up to 16
// connections, one of them kept by the Replica.
func (r *Replica) DB() *sql.DB { return r.db }

// Close closes the database once the calls under way have finished.
func (r *Replica) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.release()
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", r.path, err)
	}
	return nil
}

func (r *Replica) fail(ctx context.Context, op string, err error) error {
	if r.closed.Load() && !errors.Is(err, context.Canceled) {
		return eventfeed.ErrClosed
	}
	return fmt.Errorf("sqlite: %s: %w", op, ctxErr(ctx, err))
}

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so that stored
// times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime formats t for the replica's tables, which hold the years that
// RFC 3339 can write: 0000 to 9999.
func formatTime(t time.Time) (string, error) {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("%w: Time %v is outside years 0000 to 9999", eventfeed.ErrInvalidEvent, t)
	}
	return t.Format(timeLayout), nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// nonNil returns b, or an empty slice for nil: the driver stores nil as
// NULL, and the tables hold data NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
