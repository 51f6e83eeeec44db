package postgres

import (
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/notify"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configures a Log. The zero value is ready to use.
type Options struct {
	// Schema is the PostgreSQL schema that holds the Log's tables; it is
	// created and migrated when the Log is opened. Empty means
	// DefaultSchema. Every instance sharing a log names the same schema.
	Schema string

	// PageSize is the page size given to a feed when its first event is
	// sequenced. Zero or less means store.DefaultPageSize; more than
	// store.MaxPageSize means store.MaxPageSize. A feed keeps the page
	// size it was created with.
	PageSize int

	// PollInterval is the longest the sequencer waits before looking at
	// the outbox again when it found nothing there: it bounds how long a
	// committed event waits to be sequenced on a quiet system. While
	// events keep coming it looks every millisecond or at once. Zero means
	// DefaultPollInterval. An idle sequencer costs one indexed query per
	// PollInterval; the other instances only try to take over, once a
	// second.
	PollInterval time.Duration

	// WakeOnCommit makes AppendTx also queue a NOTIFY in the caller's
	// transaction, which wakes the sequencer the moment that transaction
	// commits, so that PollInterval can be long (seconds). It has a price:
	// PostgreSQL serialises the commits of all transactions that notify,
	// across the whole server, each waiting for the previous one's WAL
	// flush; with many concurrent writers that caps commits per second
	// (see the package documentation for figures). Leave it off unless
	// writes are few.
	WakeOnCommit bool

	// Encrypt makes the feeds this Log creates encrypted: each event
	// with a Subject is stored sealed under its subject's key (see
	// store.Keyring). A feed's encryption is fixed by its first append;
	// appending to a feed whose encryption differs from this option is
	// eventfeed.ErrEncryption.
	Encrypt bool

	// KEK, when set, is a key-encryption key (32 bytes): the data keys
	// are stored wrapped under it, so that the database alone does not
	// open the events. Every instance sharing the log must be given the
	// same; without it, keys are stored as they are. Keep it out of the
	// database and off command lines.
	KEK []byte

	// NoSequencer keeps this instance from ever sequencing: it appends,
	// reads and waits while another instance of the Log sequences. With
	// no sequencer anywhere, events stay in the outbox (Stats.Outbox) and
	// Append waits for them; AppendTx returns as usual.
	NoSequencer bool

	// Logger receives what the background sequencer and listener cannot
	// return to a caller: lost connections, reconnections, a change of
	// sequencer. Nil means slog.Default().
	Logger *slog.Logger

	// batchBytes replaces the batchBytes limit in tests; zero keeps it.
	batchBytes int
	// resync replaces resyncInterval in tests; zero keeps it.
	resync time.Duration
}

// ErrRejected reports events the sequencer could not move into the log:
// their transaction failed maxRoundFailures rounds of its own (or, with
// other content under an ID already stored, could never be). They are in
// the schema's rejected table with the error, and not in the log.
var ErrRejected = errors.New("postgres: events rejected by the sequencer")

// DefaultPollInterval is the PollInterval of Options that leave it zero.
const DefaultPollInterval = 10 * time.Millisecond

// Timings of the background work. They are not options: they trade a few
// cheap queries per second for how soon an instance notices what it missed.
const (
	// takeoverInterval is how often an instance that is not the sequencer
	// tries to become it.
	takeoverInterval = time.Second
	// busyPoll is how soon the sequencer looks at the outbox again after a
	// round that moved events: more are likely on their way.
	busyPoll = time.Millisecond
	// resyncInterval is how often an instance rereads every head, in case
	// a notification was lost.
	resyncInterval = 5 * time.Second
	// maxRoundFailures is how many rounds holding one transaction's rows
	// alone may fail before the sequencer moves those rows to the rejected
	// table, so that one row it cannot write does not stall the log.
	maxRoundFailures = 3
	// roundTimeout bounds one sequencing round, so that a connection that
	// stopped answering is given up.
	roundTimeout = 15 * time.Second
	// batchSize is the most outbox rows one sequencing transaction moves,
	// and batchBytes about the most Data: a round takes rows while the
	// Data of those before stays under it, so at least one.
	batchSize  = 1000
	batchBytes = 8 << 20
	// minBackoff and maxBackoff bound the wait before reconnecting.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
	// appendRecheck is how often Append looks for its events in the log
	// when no head notification arrives.
	appendRecheck = 500 * time.Millisecond
)

// Log is a store.Log in PostgreSQL that any number of processes can share.
// Create it with Open or New; every method is safe for concurrent use.
type Log struct {
	pool     *pgxpool.Pool
	ownPool  bool
	connCfg  *pgx.ConnConfig // for the dedicated connections
	schema   string
	pageSize int
	poll     time.Duration
	notify   bool // Options.WakeOnCommit
	maxBytes int  // batchBytes, or what a test set
	log      *slog.Logger
	q        logSQL

	encrypt bool          // Options.Encrypt
	kek     cipher.AEAD   // nil: keys stored as they are
	side    *pgxpool.Pool // see feedModes
	// modes caches whether each feed is encrypted (bool), once read from
	// a committed row: it never changes.
	modes sync.Map

	heads       notify.Heads
	progress    notify.Signal // broadcast whenever this instance learns of a head
	kick        chan struct{} // wakes the sequencer
	leading     atomic.Bool   // this instance is the sequencer
	resyncEvery time.Duration // resyncInterval, or what a test set
	// leaderChanges counts the times leading changed.
	leaderChanges atomic.Uint64

	stats struct {
		rounds, roundsFailed, rowsRejected, resyncs atomic.Uint64
	}

	closeOnce sync.Once
	closed    atomic.Bool
	done      chan struct{} // closed by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

var _ store.Keyring = (*Log)(nil)

// Open connects to the PostgreSQL database named by dsn (a URL or a
// key=value string, as pgx takes it; pool_max_conns sets the pool size),
// creates or migrates the Log's tables, and starts the Log's listener and
// sequencer. Close releases everything, the pool included.
func Open(ctx context.Context, dsn string, opt Options) (*Log, error) {
	pool, err := newPool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	l, err := New(ctx, pool, opt)
	if err != nil {
		pool.Close()
		return nil, err
	}
	l.ownPool = true
	return l, nil
}

// newPool makes the pool of Open and OpenReplica.
func newPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return pool, nil
}

// New is Open on a pool the caller made and keeps: Close leaves the pool
// open. Besides the pool, the Log opens two connections of its own with
// the pool's settings: one listens for notifications, the other competes
// to be the sequencer (and holds its lock when it is). Neither may go
// through a pooler in transaction mode, which breaks LISTEN and session
// advisory locks.
func New(ctx context.Context, pool *pgxpool.Pool, opt Options) (*Log, error) {
	schema, err := checkSchema(opt.Schema)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool, schema, componentLog, logSchema); err != nil {
		return nil, err
	}
	size := opt.PageSize
	switch {
	case size <= 0:
		size = store.DefaultPageSize
	case size > store.MaxPageSize:
		size = store.MaxPageSize
	}
	poll := opt.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	var kek cipher.AEAD
	if opt.KEK != nil {
		if kek, err = seal.NewAEAD(opt.KEK); err != nil {
			return nil, fmt.Errorf("postgres: key-encryption key: %w", err)
		}
	}
	logger := opt.Logger
	if logger == nil {
		logger = slog.Default()
	}
	l := &Log{
		pool:        pool,
		connCfg:     pool.Config().ConnConfig,
		schema:      schema,
		pageSize:    size,
		poll:        poll,
		notify:      opt.WakeOnCommit,
		maxBytes:    cmp.Or(opt.batchBytes, batchBytes),
		resyncEvery: cmp.Or(opt.resync, resyncInterval),
		log:         logger.With("store", "postgres", "schema", schema),
		q:           newLogSQL(schema),
		encrypt:     opt.Encrypt,
		kek:         kek,
		kick:        make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	// Listen before the first read of the heads, so that no head committed
	// in between is missed.
	// The side pool records a feed's encryption outside the caller's
	// transaction (see feedModes): from a pool of its own, so that callers
	// holding every connection of the main one never wait for it.
	sideCfg := pool.Config()
	sideCfg.MinConns, sideCfg.MaxConns = 0, 2
	if l.side, err = pgxpool.NewWithConfig(ctx, sideCfg); err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	conn, err := l.connectListener(ctx)
	if err != nil {
		l.side.Close()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.listen(bg, conn)
	}()
	if !opt.NoSequencer {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.sequence(bg)
		}()
	}
	return l, nil
}

// connect opens one of the long-lived connections of a Log or a Replica
// (listener, sequencer, lease) and asks the server to probe the client
// with TCP keepalives, so that the session of a machine that vanished, and
// the advisory lock it holds, ends within about half a minute instead of
// hours. The settings are sent with SET rather than as startup parameters,
// which some poolers refuse.
func connect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3`); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// logSQL holds the Log's statements with the schema filled in.
type logSQL struct {
	insertOutbox, storedByID, pendingByID, claim, upsertFeeds, insertEvents,
	insertRejected, deleteOutbox, read, feedExists, heads, rejectTx, rejectedByID string
	keySQL
}

func newLogSQL(schema string) logSQL {
	s := pgx.Identifier{schema}.Sanitize()
	f := func(q string) string { return fmt.Sprintf(q, s) }
	return logSQL{
		// WITH ORDINALITY and ORDER BY keep the identity (pos) in the
		// order the events were given.
		insertOutbox: f(`INSERT INTO %[1]s.outbox (id, feed, type, subject, time, time_ns, time_given, content_type, data, page_size)
SELECT id, feed, type, subject, time, time_ns, time_given, content_type, data, $10
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::smallint[], $7::boolean[], $8::text[], $9::bytea[])
	WITH ORDINALITY AS u(id, feed, type, subject, time, time_ns, time_given, content_type, data, n)
ORDER BY n
ON CONFLICT (id) DO NOTHING
RETURNING id`),
		storedByID: f(`SELECT ` + eventColumns + ` FROM %[1]s.events WHERE id = ANY($1)`),
		// One statement, one snapshot: a row being moved by the sequencer
		// is seen either in the outbox or in the log, never in neither.
		pendingByID: f(`SELECT feed, 0::bigint, id, type, subject, time, time_ns, content_type, data FROM %[1]s.outbox WHERE id = ANY($1)
UNION ALL
SELECT ` + eventColumns + ` FROM %[1]s.events WHERE id = ANY($1)`),
		// The claim reads, for each outbox row from transaction $2 on,
		// the event with the same ID already in the log (NULL when none)
		// and the state of its feed (NULL when new).
		// Whole transactions only: the first $1 rows from transaction
		// $2 on, and the rest of the last transaction among them; then
		// only the transactions that start while the Data before them
		// stays under $3 (the first always).
		claim: f(`SELECT o.feed, o.id, o.type, o.subject, o.time, o.time_ns, o.time_given, o.content_type, o.data, o.page_size,
	e.feed, e.seq, e.id, e.type, e.subject, e.time, e.time_ns, e.content_type, e.data,
	f.epoch, f.page_size, f.head, o.tx::text
FROM (
	SELECT * FROM (
		SELECT *, sum(octet_length(data)) OVER (ORDER BY tx) - sum(octet_length(data)) OVER (PARTITION BY tx) AS before
		FROM %[1]s.outbox
		WHERE tx >= $2 AND tx <= (SELECT max(tx) FROM (SELECT tx FROM %[1]s.outbox WHERE tx >= $2 ORDER BY tx, pos LIMIT $1) l)
	) w WHERE before < $3
) o
LEFT JOIN %[1]s.events e ON e.id = o.id
LEFT JOIN %[1]s.feeds f ON f.name = o.feed
ORDER BY o.tx, o.pos`),
		// Rows of a transaction the sequencer gave up on, with the error.
		rejectTx: f(`WITH r AS (DELETE FROM %[1]s.outbox WHERE tx = $1::text::xid8 RETURNING *)
INSERT INTO %[1]s.rejected (id, feed, type, subject, time, time_ns, content_type, data, reason)
SELECT id, feed, type, subject, time, time_ns, content_type, data, $2 FROM r`),
		// The IDs of $1 neither in the outbox nor in the log, with the
		// reason of their latest rejection: one statement, one snapshot.
		rejectedByID: f(`SELECT m.id, coalesce((SELECT r.reason FROM %[1]s.rejected r WHERE r.id = m.id ORDER BY r.rejected DESC LIMIT 1), 'no longer in the outbox')
FROM unnest($1::text[]) m(id)
WHERE NOT EXISTS (SELECT 1 FROM %[1]s.outbox o WHERE o.id = m.id) AND NOT EXISTS (SELECT 1 FROM %[1]s.events e WHERE e.id = m.id)`),
		upsertFeeds: f(`INSERT INTO %[1]s.feeds (name, epoch, page_size, head)
SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[])
ON CONFLICT (name) DO UPDATE SET head = excluded.head`),
		insertEvents: f(`INSERT INTO %[1]s.events (` + eventColumns + `)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::smallint[], $8::text[], $9::bytea[])`),
		insertRejected: f(`INSERT INTO %[1]s.rejected (id, feed, type, subject, time, time_ns, content_type, data, reason)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::smallint[], $7::text[], $8::bytea[], $9::text[])`),
		deleteOutbox: f(`DELETE FROM %[1]s.outbox WHERE id = ANY($1)`),
		read:         f(`SELECT ` + eventColumns + ` FROM %[1]s.events WHERE feed = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`),
		feedExists:   f(`SELECT EXISTS (SELECT 1 FROM %[1]s.feeds WHERE name = $1)`),
		heads: f(`SELECT f.name, f.epoch, f.page_size, f.head, e.time, e.time_ns, coalesce(m.encrypted, false)
FROM %[1]s.feeds f JOIN %[1]s.events e ON e.feed = f.name AND e.seq = f.head
LEFT JOIN %[1]s.encryption m ON m.feed = f.name`),
		keySQL: newKeySQL(f),
	}
}

// Channel names: notifications are per database, so they carry the
// schema. The outbox channel wakes the sequencer; the heads channel tells
// every instance a feed's new head.
func (l *Log) outboxChannel() string { return l.schema + ".outbox" }
func (l *Log) headsChannel() string  { return l.schema + ".heads" }

// pending is a call's events, checked and with their IDs made unique.
type pending struct {
	given  []eventfeed.Event // unique by ID, as given (a zero Time stays zero)
	events []eventfeed.Event // given, with Time filled in and in UTC
	index  []int             // input position → index into given/events
	// stored holds the events already in the log with the same content,
	// by ID; the others are in the outbox once the call succeeded.
	stored map[string]eventfeed.Event
	// aeads holds the key of each event of events that is sealed, nil
	// for the others; sealed its sealed Data. See sealEvents.
	aeads  []cipher.AEAD
	sealed [][]byte
}

// same reports whether stored, found under the ID of p.events[j], is that
// event: for a sealed one, the plaintext is compared.
func (p *pending) same(j int, stored *eventfeed.Event) bool {
	if p.aeads != nil && p.aeads[j] != nil {
		return stored.ContentType == eventfeed.EncryptedContentType && seal.SameContent(p.aeads[j], &p.given[j], stored)
	}
	return p.given[j].SameContent(stored)
}

// prepare checks events and drops repeated IDs within the call.
func prepare(events []eventfeed.Event) (*pending, error) {
	now := time.Now().UTC()
	p := &pending{index: make([]int, len(events)), stored: make(map[string]eventfeed.Event)}
	seen := make(map[string]int, len(events))
	for i := range events {
		e := events[i]
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("postgres: append event %d: %w", i, err)
		}
		if !e.Time.IsZero() {
			if err := checkTime(e.Time); err != nil {
				return nil, fmt.Errorf("postgres: append event %d: %w", i, err)
			}
		}
		if j, ok := seen[e.ID]; ok {
			if !e.SameContent(&p.events[j]) {
				return nil, fmt.Errorf("postgres: append %s: %w (given twice with different content)", e.ID, eventfeed.ErrConflict)
			}
			p.index[i] = j
			continue
		}
		seen[e.ID] = len(p.events)
		p.index[i] = len(p.events)
		e.Seq = 0
		p.given = append(p.given, e)
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC().Truncate(eventfeed.TimePrecision)
		p.events = append(p.events, e)
	}
	return p, nil
}

// AppendTx adds events to the outbox in tx, the caller's transaction, for
// the sequencer to move into the log once tx commits; if tx rolls back,
// they never existed. It updates no row, so the caller's other work in tx
// holds up no other writer (only one appending an event with the same ID
// waits, to learn whether tx commits it). It returns before the events
// have seqs: Wait and Read see them within milliseconds of the commit.
//
// Events are checked as Append checks them. An ID already in the log or in
// the outbox with the same content is not added again; with other content
// the call fails with eventfeed.ErrConflict. On error nothing of this call
// is left in tx (tx itself stays usable unless PostgreSQL failed it).
//
// A transaction at isolation level REPEATABLE READ or SERIALIZABLE cannot
// see an event sequenced after it began, so a repeated ID can slip past
// the check in that one case; the sequencer then drops the copy when its
// content is the same, and otherwise records it in the rejected table
// instead of the log (see the package documentation).
func (l *Log) AppendTx(ctx context.Context, tx pgx.Tx, events ...eventfeed.Event) error {
	if l.closed.Load() {
		return eventfeed.ErrClosed
	}
	if err := checkTypes(events); err != nil {
		return err
	}
	p, err := prepare(events)
	if err != nil {
		return err
	}
	return l.appendTx(ctx, tx, p)
}

func (l *Log) appendTx(ctx context.Context, tx pgx.Tx, p *pending) error {
	n := len(p.events)
	if n == 0 {
		return nil
	}
	if err := l.sealEvents(ctx, tx, p); err != nil {
		return err
	}
	ids := make([]string, n)
	feeds := make([]string, n)
	types := make([]string, n)
	subjects := make([]string, n)
	times := make([]time.Time, n)
	nss := make([]int16, n)
	given := make([]bool, n)
	cts := make([]string, n)
	datas := make([][]byte, n)
	for i, e := range p.events {
		ids[i], feeds[i], types[i], subjects[i], cts[i], datas[i] = e.ID, e.Feed, e.Type, e.Subject, e.ContentType, data(e.Data)
		if p.sealed[i] != nil {
			cts[i], datas[i] = eventfeed.EncryptedContentType, p.sealed[i]
		}
		times[i], nss[i] = splitTime(e.Time)
		given[i] = !p.given[i].Time.IsZero()
	}
	inserted := make(map[string]bool, n)
	var logged []eventfeed.Event
	b := &pgx.Batch{}
	b.Queue(l.q.insertOutbox, ids, feeds, types, subjects, times, nss, given, cts, datas, l.pageSize).Query(func(rows pgx.Rows) error {
		var id string
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			inserted[id] = true
			return nil
		})
		return err
	})
	// Read after the insert, in a statement of its own: under READ
	// COMMITTED it sees every sequencing committed before the insert
	// returned. The insert waits for a sequencer that is deleting the same
	// ID from the outbox, so an ID that just left the outbox is found here.
	b.Queue(l.q.storedByID, ids).Query(func(rows pgx.Rows) error {
		var err error
		logged, err = collectEvents(rows)
		return err
	})
	if l.notify {
		// Delivered when tx commits, and only then; PostgreSQL folds the
		// identical notifications of one transaction into one.
		b.Queue(`SELECT pg_notify($1, '')`, l.outboxChannel())
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: append to outbox: %w", err)
	}

	byID := make(map[string]int, n)
	for i, e := range p.events {
		byID[e.ID] = i
	}
	var (
		conflict  error
		duplicate []string // inserted by this call, but already in the log
		elsewhere []string // neither inserted nor in the log: in the outbox
	)
	for i := range logged {
		s := &logged[i]
		j := byID[s.ID]
		if !p.same(j, s) {
			conflict = fmt.Errorf("postgres: append %s: %w (stored in %s at %d)", s.ID, eventfeed.ErrConflict, s.Feed, s.Seq)
			break
		}
		p.stored[s.ID] = *s
		if inserted[s.ID] {
			duplicate = append(duplicate, s.ID)
		}
	}
	if conflict == nil {
		for _, e := range p.events {
			if _, ok := p.stored[e.ID]; !ok && !inserted[e.ID] {
				elsewhere = append(elsewhere, e.ID)
			}
		}
	}
	if conflict == nil && len(elsewhere) > 0 {
		conflict = l.checkPending(ctx, tx, p, byID, elsewhere)
	}
	if conflict != nil {
		// Leave nothing of this call in tx.
		mine := make([]string, 0, len(inserted))
		for id := range inserted {
			mine = append(mine, id)
		}
		if len(mine) > 0 {
			if _, err := tx.Exec(ctx, l.q.deleteOutbox, mine); err != nil {
				return fmt.Errorf("postgres: append: undo after %w: %v", conflict, err)
			}
		}
		return conflict
	}
	if len(duplicate) > 0 {
		if _, err := tx.Exec(ctx, l.q.deleteOutbox, duplicate); err != nil {
			return fmt.Errorf("postgres: append: drop repeated events: %w", err)
		}
	}
	return nil
}

// checkPending compares the events whose IDs another committed transaction
// put in the outbox (or that the sequencer just moved) with theirs.
func (l *Log) checkPending(ctx context.Context, tx pgx.Tx, p *pending, byID map[string]int, ids []string) error {
	rows, _ := tx.Query(ctx, l.q.pendingByID, ids)
	found, err := collectEvents(rows)
	if err != nil {
		return fmt.Errorf("postgres: append: read pending events: %w", err)
	}
	seen := make(map[string]bool, len(found))
	for i := range found {
		s := &found[i]
		seen[s.ID] = true
		if !p.same(byID[s.ID], s) {
			return fmt.Errorf("postgres: append %s: %w (pending in the outbox)", s.ID, eventfeed.ErrConflict)
		}
		if s.Seq != 0 {
			p.stored[s.ID] = *s
		}
	}
	for _, id := range ids {
		if !seen[id] {
			// The other copy was rejected by the sequencer between the
			// statements: rare and transient.
			return fmt.Errorf("postgres: append %s: the outbox copy of this ID vanished; retry", id)
		}
	}
	return nil
}

// collectEvents reads rows of eventColumns.
func collectEvents(rows pgx.Rows) ([]eventfeed.Event, error) {
	defer rows.Close()
	var out []eventfeed.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Append stores events as store.Log.Append describes: it adds them to the
// outbox in a transaction of its own, wakes the sequencer and waits until
// they are in the log, to return them with their Seq.
//
// If ctx ends while Append waits, the events are already committed and
// will be sequenced: the error wraps ctx.Err(), and a retry with the same
// IDs returns them once they are.
func (l *Log) Append(ctx context.Context, events ...eventfeed.Event) ([]eventfeed.Event, error) {
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	if err := checkTypes(events); err != nil {
		return nil, err
	}
	p, err := prepare(events)
	if err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	if err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error { return l.appendTx(ctx, tx, p) }); err != nil {
		return nil, err
	}
	return l.sequenced(ctx, events, p)
}

// sequenced wakes the sequencer and waits until the events of p, which
// are committed, are in the log and in this instance's heads, and returns
// them as stored in the order of events.
func (l *Log) sequenced(ctx context.Context, events []eventfeed.Event, p *pending) ([]eventfeed.Event, error) {
	l.wake()
	if err := l.awaitSequenced(ctx, p); err != nil {
		return nil, err
	}
	// The log may hold the events a moment before this instance hears of
	// its new heads; wait for that too, so that Feed and Wait reflect the
	// Append once it returns.
	heads := make(map[string]uint64)
	for _, e := range p.stored {
		heads[e.Feed] = max(heads[e.Feed], e.Seq)
	}
	for feed, seq := range heads {
		if _, err := l.heads.Wait(ctx, feed, seq-1); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("postgres: append: events are in the log, not yet in this instance's heads: %w", err)
			}
			return nil, err
		}
	}
	out := make([]eventfeed.Event, len(events))
	for i, j := range p.index {
		s := p.stored[p.events[j].ID]
		if !p.same(j, &s) {
			// Possible only if a transaction at REPEATABLE READ slipped a
			// different event with this ID past its check.
			return nil, fmt.Errorf("postgres: append %s: %w (stored in %s at %d)", s.ID, eventfeed.ErrConflict, s.Feed, s.Seq)
		}
		s.Data = append([]byte(nil), s.Data...)
		out[i] = s
	}
	return out, nil
}

// awaitSequenced waits until every event of p is in the log, filling in
// p.stored.
func (l *Log) awaitSequenced(ctx context.Context, p *pending) error {
	var missing []string
	for _, e := range p.events {
		if _, ok := p.stored[e.ID]; !ok {
			missing = append(missing, e.ID)
		}
	}
	timer := time.NewTimer(appendRecheck)
	defer timer.Stop()
	for len(missing) > 0 {
		wake := l.progress.C()
		rows, _ := l.pool.Query(ctx, l.q.storedByID, missing)
		found, err := collectEvents(rows)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("postgres: append: events are in the outbox, not yet sequenced: %w", ctx.Err())
			}
			return fmt.Errorf("postgres: append: read sequenced events: %w", err)
		}
		for _, e := range found {
			p.stored[e.ID] = e
		}
		missing = missing[:0]
		for _, e := range p.events {
			if _, ok := p.stored[e.ID]; !ok {
				missing = append(missing, e.ID)
			}
		}
		if len(missing) == 0 {
			break
		}
		timer.Reset(appendRecheck)
		select {
		case <-wake:
		case <-timer.C:
			// Now and then, and only then (it reads three tables): were
			// any of them rejected by the sequencer?
			if err := l.checkRejected(ctx, missing); err != nil {
				return err
			}
		case <-l.done:
			return eventfeed.ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("postgres: append: events are in the outbox, not yet sequenced: %w", ctx.Err())
		}
	}
	return nil
}

// checkRejected returns an error wrapping ErrRejected when an event of ids
// left the outbox without entering the log: the sequencer rejected it.
func (l *Log) checkRejected(ctx context.Context, ids []string) error {
	var id, reason string
	err := l.pool.QueryRow(ctx, l.q.rejectedByID, ids).Scan(&id, &reason)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return fmt.Errorf("postgres: append: events are in the outbox, not yet sequenced: %w", ctx.Err())
		}
		return fmt.Errorf("postgres: append: look for rejected events: %w", err)
	}
	return fmt.Errorf("postgres: append %s: %w: %s", id, ErrRejected, reason)
}

// Read returns the events of feed with from <= Seq <= to, from the log:
// only sequenced events, committed a sequencing transaction at a time, so
// a Read never returns seq n+1 without seq n.
func (l *Log) Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error) {
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	from = max(from, 1)
	to = min(to, math.MaxInt64)
	var evs []eventfeed.Event
	if from <= to {
		rows, _ := l.pool.Query(ctx, l.q.read, feed, int64(from), int64(to))
		var err error
		if evs, err = collectEvents(rows); err != nil {
			return nil, fmt.Errorf("postgres: read %q: %w", feed, err)
		}
	}
	if len(evs) == 0 {
		if _, ok := l.heads.Get(feed); !ok {
			var exists bool
			if err := l.pool.QueryRow(ctx, l.q.feedExists, feed).Scan(&exists); err != nil {
				return nil, fmt.Errorf("postgres: read %q: %w", feed, err)
			}
			if !exists {
				return nil, fmt.Errorf("postgres: read %q: %w", feed, eventfeed.ErrFeedNotFound)
			}
		}
	}
	return evs, nil
}

// Feed describes the feed called name from memory: the head this instance
// last learned of, from its own sequencing or another instance's
// notification. It may trail the database by the time a notification
// takes to arrive.
func (l *Log) Feed(ctx context.Context, name string) (store.Feed, error) {
	if l.closed.Load() {
		return store.Feed{}, eventfeed.ErrClosed
	}
	f, ok := l.heads.Get(name)
	if !ok {
		return store.Feed{}, fmt.Errorf("postgres: feed %q: %w", name, eventfeed.ErrFeedNotFound)
	}
	return f, nil
}

// Feeds lists every feed, sorted by name, from memory as Feed does.
func (l *Log) Feeds(ctx context.Context) ([]store.Feed, error) {
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	return l.heads.List(), nil
}

// Wait blocks until the head of feed passes after, or ctx is done, or the
// Log is closed (eventfeed.ErrClosed). Events sequenced by any instance
// wake it. An invalid feed name is an error at once.
func (l *Log) Wait(ctx context.Context, feed string, after uint64) (store.Feed, error) {
	if err := eventfeed.ValidateFeedName(feed); err != nil {
		return store.Feed{}, fmt.Errorf("postgres: wait: %w", err)
	}
	return l.heads.Wait(ctx, feed, after)
}

// Close stops the listener and the sequencer and waits for them, which
// releases the sequencer's lock for another instance to take; it wakes
// every Wait with eventfeed.ErrClosed and closes the pool if Open made it.
// Events still in the outbox stay there for the next sequencer.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.done)
		l.cancel()
		l.wg.Wait()
		l.heads.Close()
		l.side.Close()
		if l.ownPool {
			l.pool.Close()
		}
	})
	return nil
}

// wake tells the sequencer, if this instance is it, to look at the outbox.
func (l *Log) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// setHead records what this instance learned of a feed's head.
func (l *Log) setHead(f store.Feed) {
	f.Encrypted = l.feedEncrypted(f)
	l.heads.Set(f)
	l.progress.Broadcast()
}

// resync rereads every head.
func (l *Log) resync(ctx context.Context) error {
	rows, _ := l.pool.Query(ctx, l.q.heads)
	var (
		f    store.Feed
		head int64
		t    time.Time
		ns   int16
	)
	var feeds []store.Feed
	_, err := pgx.ForEachRow(rows, []any{&f.Name, &f.Epoch, &f.PageSize, &head, &t, &ns, &f.Encrypted}, func() error {
		l.modes.Store(f.Name, f.Encrypted)
		f.Head = uint64(head)
		f.Updated = joinTime(t, ns)
		feeds = append(feeds, f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: read heads: %w", err)
	}
	for _, f := range feeds {
		l.heads.Set(f)
	}
	l.stats.resyncs.Add(1)
	l.progress.Broadcast()
	return nil
}

// newEpoch returns a fresh random epoch: 8 bytes, lower-case hex.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// sleep waits d or until ctx is done, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
