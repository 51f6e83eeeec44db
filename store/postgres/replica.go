package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A Projection applies one event to a consumer's state in tx, the
// transaction that also stores the checkpoint: if the projection fails,
// or anything after it, none of the batch's effects are committed.
// It must do all its work through tx.
type Projection func(ctx context.Context, tx pgx.Tx, ev eventfeed.Event) error

// ReplicaOptions configures a Replica. The zero value is ready to use.
type ReplicaOptions struct {
	// Schema is the PostgreSQL schema that holds the Replica's tables
	// (checkpoints, latest, dead_letters, leases); it is created and
	// migrated when the Replica is opened. Empty means DefaultSchema. It
	// may be the schema of a Log: their tables do not clash.
	Schema string

	// Projection applies each event. Nil means Latest(Schema): keep the
	// newest event of each (feed, subject), for Get; the Replica then
	// applies a whole batch in one statement.
	Projection Projection
}

// ErrNotFound reports that the latest table holds no event for a feed
// and subject.
var ErrNotFound = errors.New("postgres: no event for this feed and subject")

// ErrLeaseLost reports an Apply or Park on a source whose lease the
// Replica does not hold: it lost it, released it, or never took it while
// another Replica did.
var ErrLeaseLost = errors.New("postgres: lease on the source is not held")

var errNoSource = errors.New("postgres: checkpoint has no source")

// Replica is a store.Replica in PostgreSQL. Create it with OpenReplica or
// NewReplica; every method is safe for concurrent use.
type Replica struct {
	pool     *pgxpool.Pool
	ownPool  bool
	lockCfg  *pgx.ConnConfig // for the connections that hold leases
	schema   string
	project  Projection // nil: the batched Latest
	q        replicaSQL
	holderID string

	mu     sync.Mutex
	closed bool
	leases map[string]*Lease // held, by source
}

var _ store.Replica = (*Replica)(nil)

// DeadLetter is an event parked by Replica.Park.
type DeadLetter struct {
	Source string
	Event  eventfeed.Event
	Reason string
	Parked time.Time
}

// OpenReplica connects to the PostgreSQL database named by dsn, as Open
// does, and creates or migrates the Replica's tables. Close releases
// everything, the pool included.
func OpenReplica(ctx context.Context, dsn string, opt ReplicaOptions) (*Replica, error) {
	pool, err := newPool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	r, err := NewReplica(ctx, pool, opt)
	if err != nil {
		pool.Close()
		return nil, err
	}
	r.ownPool = true
	return r, nil
}

// NewReplica is OpenReplica on a pool the caller made and keeps: Close
// leaves the pool open.
func NewReplica(ctx context.Context, pool *pgxpool.Pool, opt ReplicaOptions) (*Replica, error) {
	schema, err := checkSchema(opt.Schema)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool, schema, componentReplica, replicaSchema); err != nil {
		return nil, err
	}
	lockCfg := pool.Config().ConnConfig
	// A canceled Lock must cancel its wait for the advisory lock on the
	// server, or the server could grant the lock to a session nobody uses.
	lockCfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	host, _ := os.Hostname()
	r := &Replica{
		pool:     pool,
		lockCfg:  lockCfg,
		schema:   schema,
		project:  opt.Projection,
		q:        newReplicaSQL(schema),
		holderID: fmt.Sprintf("%s pid %d", host, os.Getpid()),
		leases:   make(map[string]*Lease),
	}
	return r, nil
}

// replicaSQL holds the Replica's statements with the schema filled in.
type replicaSQL struct {
	checkpoint, zeroCheckpoint, lockCheckpoint, saveCheckpoint, fence, park, deadLetters, get, latest, takeLease string
	dropLatest                                                                                                   string
}

func newReplicaSQL(schema string) replicaSQL {
	s := pgx.Identifier{schema}.Sanitize()
	f := func(q string) string { return fmt.Sprintf(q, s) }
	return replicaSQL{
		checkpoint: f(`SELECT page, last_id, seq, epoch, entry_order, recent, version, updated FROM %[1]s.checkpoints WHERE source = $1`),
		// A row of version 0 stands for the checkpoint of a source never
		// applied, so that two first commits for one source meet on its
		// row lock: the second waits for the first and then sees its
		// version.
		// It is committed only with the checkpoint that replaces it.
		zeroCheckpoint: f(`INSERT INTO %[1]s.checkpoints (source, page, last_id, seq, epoch, updated) VALUES ($1, '', '', 0, '', now())
ON CONFLICT (source) DO NOTHING`),
		lockCheckpoint: f(`SELECT version FROM %[1]s.checkpoints WHERE source = $1 FOR UPDATE`),
		saveCheckpoint: f(`UPDATE %[1]s.checkpoints SET page = $2, last_id = $3, seq = $4, epoch = $5, entry_order = $6,
	recent = $7, version = $8, updated = now() WHERE source = $1`),
		// FOR SHARE: a new holder's token update waits until this
		// transaction ends, so a transaction that read a token commits
		// before the next holder reads the checkpoint.
		fence: f(`SELECT token FROM %[1]s.leases WHERE source = $1 FOR SHARE`),
		park: f(`INSERT INTO %[1]s.dead_letters (source, feed, seq, id, type, subject, time, time_ns, content_type, data, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
		deadLetters: f(`SELECT ` + eventColumns + `, reason, parked FROM %[1]s.dead_letters WHERE source = $1 ORDER BY n`),
		get:         f(`SELECT ` + eventColumns + ` FROM %[1]s.latest WHERE feed = $1 AND subject = $2`),
		latest: f(`INSERT INTO %[1]s.latest (` + eventColumns + `)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::smallint[], $8::text[], $9::bytea[])
ON CONFLICT (feed, subject) DO UPDATE SET seq = excluded.seq, id = excluded.id, type = excluded.type,
	time = excluded.time, time_ns = excluded.time_ns, content_type = excluded.content_type, data = excluded.data`),
		dropLatest: f(`DELETE FROM %[1]s.latest WHERE (feed, subject) IN (SELECT * FROM unnest($1::text[], $2::text[]))`),
		takeLease: f(`INSERT INTO %[1]s.leases (source, token, holder, acquired) VALUES ($1, 1, $2, now())
ON CONFLICT (source) DO UPDATE SET token = leases.token + 1, holder = excluded.holder, acquired = excluded.acquired
RETURNING token`),
	}
}

// Latest returns the ready projection that keeps, in schema's latest
// table, the newest event of each (feed, subject) applied, for
// Replica.Get. Call it from a projection of your own to keep both; an
// empty schema means DefaultSchema.
//
// A tombstone (Type eventfeed.TypeErased: the subject was erased) deletes
// the subject's row. An event of an erased subject that arrives without
// its data (see eventfeed.Event.Erased) is kept as any other, until its
// tombstone follows.
func Latest(schema string) Projection {
	if schema == "" {
		schema = DefaultSchema
	}
	drop := fmt.Sprintf(`DELETE FROM %s.latest WHERE feed = $1 AND subject = $2`, pgx.Identifier{schema}.Sanitize())
	q := fmt.Sprintf(`INSERT INTO %[1]s.latest (`+eventColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (feed, subject) DO UPDATE SET seq = excluded.seq, id = excluded.id, type = excluded.type,
	time = excluded.time, time_ns = excluded.time_ns, content_type = excluded.content_type, data = excluded.data`,
		pgx.Identifier{schema}.Sanitize())
	return func(ctx context.Context, tx pgx.Tx, ev eventfeed.Event) error {
		if ev.Type == eventfeed.TypeErased {
			_, err := tx.Exec(ctx, drop, ev.Feed, ev.Subject)
			return err
		}
		t, ns := splitTime(ev.Time)
		_, err := tx.Exec(ctx, q, ev.Feed, int64(ev.Seq), ev.ID, ev.Type, ev.Subject, t, ns, ev.ContentType, data(ev.Data))
		return err
	}
}

// latest is the Latest projection of a whole batch, in one statement (two
// with tombstones): the newest event of each (feed, subject) in the batch
// replaces the stored one, or deletes it when it is a tombstone.
func (r *Replica) latest(ctx context.Context, tx pgx.Tx, events []eventfeed.Event) error {
	type key struct{ feed, subject string }
	last := make(map[key]int, len(events))
	for i, ev := range events {
		last[key{ev.Feed, ev.Subject}] = i
	}
	var (
		a              eventColumnsArrays
		dFeeds, dSubjs []string
	)
	for i, ev := range events {
		switch {
		case last[key{ev.Feed, ev.Subject}] != i:
		case ev.Type == eventfeed.TypeErased:
			dFeeds, dSubjs = append(dFeeds, ev.Feed), append(dSubjs, ev.Subject)
		default:
			a.add(ev)
		}
	}
	if len(dFeeds) > 0 {
		if _, err := tx.Exec(ctx, r.q.dropLatest, dFeeds, dSubjs); err != nil {
			return err
		}
	}
	if len(a.ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, r.q.latest, a.feeds, a.seqs, a.ids, a.types, a.subjects, a.times, a.nss, a.cts, a.datas)
	return err
}

// Checkpoint returns the checkpoint of source, zero (with Source set) when
// none was committed.
func (r *Replica) Checkpoint(ctx context.Context, source string) (store.Checkpoint, error) {
	if r.isClosed() {
		return store.Checkpoint{}, eventfeed.ErrClosed
	}
	cp := store.Checkpoint{Source: source}
	var (
		seq, version int64
		order        int16
	)
	err := r.pool.QueryRow(ctx, r.q.checkpoint, source).Scan(&cp.Page, &cp.LastID, &seq, &cp.Epoch, &order, &cp.Recent, &version, &cp.Updated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Checkpoint{Source: source}, nil
	case err != nil:
		return store.Checkpoint{}, fmt.Errorf("postgres: checkpoint of %s: %w", source, err)
	}
	if len(cp.Recent) == 0 {
		cp.Recent = nil
	}
	cp.Seq, cp.Order, cp.Version = uint64(seq), store.Order(order), uint64(version)
	return cp, nil
}

// Apply runs the projection on each event in order and stores cp, in one
// transaction. A projection error rolls everything back and is returned as
// a *store.ApplyError. When a lease was ever taken on cp.Source, Apply
// commits only while this Replica holds it (else ErrLeaseLost).
func (r *Replica) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	return r.commit(ctx, cp, func(tx pgx.Tx) error {
		if r.project == nil {
			return r.latest(ctx, tx, events)
		}
		for _, ev := range events {
			if err := r.project(ctx, tx, ev); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return &store.ApplyError{Event: ev, Err: err}
			}
		}
		return nil
	})
}

// Park records ev as a dead letter of cp.Source with reason, without
// applying it, and stores cp, in one transaction; it is fenced as Apply
// is.
func (r *Replica) Park(ctx context.Context, cp store.Checkpoint, ev eventfeed.Event, reason string) error {
	return r.commit(ctx, cp, func(tx pgx.Tx) error {
		t, ns := splitTime(ev.Time)
		_, err := tx.Exec(ctx, r.q.park, cp.Source, ev.Feed, int64(ev.Seq), ev.ID, ev.Type, ev.Subject, t, ns, ev.ContentType, data(ev.Data), reason)
		return err
	})
}

// commit runs work and stores cp in one fenced transaction.
func (r *Replica) commit(ctx context.Context, cp store.Checkpoint, work func(pgx.Tx) error) error {
	if cp.Source == "" {
		return errNoSource
	}
	if r.isClosed() {
		return eventfeed.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if err := r.fence(ctx, tx, cp.Source); err != nil {
			return err
		}
		// Two statements: the second sees a row that another first
		// commit inserted while the first waited for it.
		if _, err := tx.Exec(ctx, r.q.zeroCheckpoint, cp.Source); err != nil {
			return err
		}
		var version int64
		if err := tx.QueryRow(ctx, r.q.lockCheckpoint, cp.Source).Scan(&version); err != nil {
			return err
		}
		if uint64(version) != cp.Version {
			return fmt.Errorf("postgres: %s: %w (version %d, the call holds %d)", cp.Source, store.ErrCheckpointMoved, version, cp.Version)
		}
		if err := work(tx); err != nil {
			return err
		}
		recent := cp.Recent
		if recent == nil {
			recent = []string{}
		}
		_, err := tx.Exec(ctx, r.q.saveCheckpoint, cp.Source, cp.Page, cp.LastID, int64(cp.Seq), cp.Epoch,
			int16(cp.Order), recent, int64(cp.Version+1))
		return err
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, ErrLeaseLost) || errors.Is(err, store.ErrCheckpointMoved) || store.AsApplyError(err) != nil:
		return err
	}
	return fmt.Errorf("postgres: commit %s: %w", cp.Source, err)
}

// fence checks, in tx, that this Replica may commit for source: no lease
// was ever taken on it, or this Replica holds the current one. The row
// lock it takes holds up any new holder until tx ends.
func (r *Replica) fence(ctx context.Context, tx pgx.Tx, source string) error {
	r.mu.Lock()
	lease := r.leases[source]
	r.mu.Unlock()
	var current int64
	err := tx.QueryRow(ctx, r.q.fence, source).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && lease == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %s: the lease record is gone", ErrLeaseLost, source)
	case err != nil:
		return err
	case lease == nil:
		return fmt.Errorf("%w: %s is leased (token %d) and this Replica holds no lease on it", ErrLeaseLost, source, current)
	case lease.token != current:
		return fmt.Errorf("%w: %s was taken over (token %d, this Replica holds %d)", ErrLeaseLost, source, current, lease.token)
	}
	return nil
}

// DeadLetters returns the events parked for source, oldest first.
func (r *Replica) DeadLetters(ctx context.Context, source string) ([]DeadLetter, error) {
	if r.isClosed() {
		return nil, eventfeed.ErrClosed
	}
	rows, _ := r.pool.Query(ctx, r.q.deadLetters, source)
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		d := DeadLetter{Source: source}
		var err error
		if d.Event, err = scanEvent(rows, &d.Reason, &d.Parked); err != nil {
			return nil, fmt.Errorf("postgres: dead letters of %s: %w", source, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: dead letters of %s: %w", source, err)
	}
	return out, nil
}

// Get returns the newest event applied for feed and subject by the Latest
// projection, or ErrNotFound.
func (r *Replica) Get(ctx context.Context, feed, subject string) (eventfeed.Event, error) {
	if r.isClosed() {
		return eventfeed.Event{}, eventfeed.ErrClosed
	}
	e, err := scanEvent(r.pool.QueryRow(ctx, r.q.get, feed, subject))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventfeed.Event{}, fmt.Errorf("%w: feed %q, subject %q", ErrNotFound, feed, subject)
	case err != nil:
		return eventfeed.Event{}, fmt.Errorf("postgres: get %s %s: %w", feed, subject, err)
	}
	return e, nil
}

// Close releases every lease this Replica holds and closes the pool if
// OpenReplica made it. Later calls return eventfeed.ErrClosed.
func (r *Replica) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	leases := make([]*Lease, 0, len(r.leases))
	for _, l := range r.leases {
		leases = append(leases, l)
	}
	r.mu.Unlock()
	for _, l := range leases {
		l.Release()
	}
	if r.ownPool {
		r.pool.Close()
	}
	return nil
}

func (r *Replica) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}
