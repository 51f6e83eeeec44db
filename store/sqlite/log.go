package sqlite

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/notify"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
)

// DefaultPollInterval is how often a Log looks for events committed by
// other connections and processes while a Wait is under way, when Options
// leaves it zero.
const DefaultPollInterval = 10 * time.Millisecond

// Options configures a Log. The zero value is ready to use.
type Options struct {
	// PageSize is the page size given to a feed when its first event is
	// stored; a feed keeps its own for good. Zero means
	// store.DefaultPageSize; it may not exceed store.MaxPageSize.
	PageSize int

	// PollInterval is how often the Log checks whether another connection
	// or process committed events (AppendTx, another Log on the same
	// file), to wake Wait, while at least one Wait is under way; with none,
	// nothing is checked until Feed or Feeds asks. Zero means
	// DefaultPollInterval. The check reads one counter kept in memory by
	// SQLite; the feeds are read again only when it changed.
	PollInterval time.Duration

	// BusyTimeout is how long a write waits for another connection's
	// transaction before failing. Zero means DefaultBusyTimeout.
	BusyTimeout time.Duration

	// FullSync makes every commit durable against power loss and OS
	// crashes (synchronous=FULL), at the cost of an fsync per commit. By
	// default (synchronous=NORMAL) such a crash may roll back the last
	// commits; a crash of the process alone never loses a commit.
	FullSync bool

	// Encrypt makes the feeds this Log creates encrypted: each event
	// with a Subject is stored sealed under its subject's key (see
	// store.Keyring). A feed's encryption is fixed by its first event;
	// appending to a feed whose encryption differs from this option is
	// eventfeed.ErrEncryption.
	Encrypt bool

	// KEK, when set, is a key-encryption key (32 bytes): the data keys
	// are stored wrapped under it, so that the database file alone does
	// not open the events. Every Log on the file must be given the same;
	// without it, keys are stored as they are. Keep it out of the file
	// and off command lines.
	KEK []byte
}

// Log is a store.Log in an SQLite file. Every method is safe for
// concurrent use. It is also a transactional outbox: see AppendTx.
type Log struct {
	db       *sql.DB
	path     string
	pageSize int
	encrypt  bool
	kek      cipher.AEAD // nil: keys stored as they are
	heads    notify.Heads
	closed   atomic.Bool

	// writing serialises this Log's own write transactions, on writer:
	// SQLite runs one writer at a time, and queueing here is cheaper than
	// retrying on SQLITE_BUSY. A channel rather than a mutex, so that a
	// caller whose ctx ends stops queueing.
	writing chan struct{}
	writer  *sql.Conn

	stmts                                       []*sql.Stmt
	insert, byID, feedRow, upsertFeed, readStmt *sql.Stmt
	probe, savepointStmt, releaseStmt           *sql.Stmt   // for AppendTx
	keyRow, eraseKey                            *sql.Stmt   // see keys.go
	keyStmts                                    []*sql.Stmt // keyQueries
	keys                                        keyCache    // see keys.go

	// The watcher notices commits by other connections: see watch.
	watcher     *sql.Conn
	dataVersion *sql.Stmt // on watcher
	allFeeds    *sql.Stmt // on watcher
	erasures    *sql.Stmt // on watcher
	interval    time.Duration
	born        time.Time        // the origin of looked
	looked      atomic.Int64     // when the last look began: nanoseconds since born
	looks       atomic.Uint64    // looks begun, for tests
	waiting     atomic.Int64     // Wait calls under way
	wake        chan struct{}    // one slot: a Wait began while none was under way
	poke        chan lookRequest // requests to look now, from Notify and fresh
	stop        context.CancelFunc
	done        chan struct{}
}

// lookRequest asks the watcher to look for commits of other connections,
// and to close ack once it has. With notify unset, a look begun at since
// or later (nanoseconds since born) will do, however recent: the
// requests of fresh share one look.
type lookRequest struct {
	ack    chan struct{}
	notify bool
	since  int64
}

var _ store.Keyring = (*Log)(nil)

// logSchema holds the migrations of the log's tables: logSchema[i] takes
// them from version i to i+1. The tables are prefixed because they may
// share a file with the caller's own (see AppendTx).
var logSchema = []string{
	`CREATE TABLE eventfeed_feeds (
		name      TEXT PRIMARY KEY,
		epoch     TEXT NOT NULL,
		page_size INTEGER NOT NULL,
		head      INTEGER NOT NULL,
		updated   INTEGER NOT NULL -- Unix nanoseconds
	) STRICT, WITHOUT ROWID;
	CREATE TABLE eventfeed_events (
		feed         TEXT NOT NULL,
		seq          INTEGER NOT NULL,
		id           TEXT NOT NULL UNIQUE,
		type         TEXT NOT NULL,
		subject      TEXT NOT NULL,
		time         INTEGER NOT NULL, -- Unix nanoseconds
		content_type TEXT NOT NULL,
		data         BLOB NOT NULL,
		PRIMARY KEY (feed, seq)
	) STRICT, WITHOUT ROWID;`,
	// Version 2: encrypted feeds and their keys (see keys.go), and
	// sealed events. A sealed event's row keeps the plaintext's media type
	// in content_type and only the nonce, ciphertext and tag of its JWE in
	// data; sealed is their seal format (seal.Format1), 0 for an event
	// stored as given. Read rebuilds the JWE from the row (see sealedRow).
	`ALTER TABLE eventfeed_feeds ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE eventfeed_events ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE eventfeed_keys (
		feed    TEXT NOT NULL,
		subject TEXT NOT NULL,
		secret  BLOB,    -- the data key, wrapped when a KEK is used; NULL once erased
		erased  INTEGER, -- the tombstone's seq, once erased
		PRIMARY KEY (feed, subject)
	) STRICT, WITHOUT ROWID;
	CREATE TABLE eventfeed_erasures (n INTEGER NOT NULL) STRICT; -- one row: Erases committed
	INSERT INTO eventfeed_erasures (n) VALUES (0);`,
}

const (
	insertQuery = `INSERT INTO eventfeed_events (feed, seq, id, type, subject, time, content_type, data, sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	byIDQuery = `SELECT feed, seq, type, subject, time, content_type, data, sealed
		FROM eventfeed_events WHERE id = ?`
	feedRowQuery    = `SELECT epoch, page_size, head, updated, encrypted FROM eventfeed_feeds WHERE name = ?`
	upsertFeedQuery = `INSERT INTO eventfeed_feeds (name, epoch, page_size, head, updated, encrypted) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET head = excluded.head, updated = excluded.updated`
	readQuery = `SELECT seq, id, type, subject, time, content_type, data, sealed
		FROM eventfeed_events WHERE feed = ? AND seq BETWEEN ? AND ? ORDER BY seq`
	allFeedsQuery = `SELECT name, epoch, page_size, head, updated, encrypted FROM eventfeed_feeds`

	// AppendTx's: see txStmts.
	probeQuery     = `SELECT 1`
	savepointQuery = `SAVEPOINT eventfeed_append`
	releaseQuery   = `RELEASE eventfeed_append`
	rollbackQuery  = `ROLLBACK TO eventfeed_append; RELEASE eventfeed_append`
)

// Open opens the log in the SQLite file at path, creating the file and its
// tables as needed, and starts watching it for events that other
// connections commit. Close stops that.
func Open(ctx context.Context, path string, opt Options) (*Log, error) {
	size := opt.PageSize
	if size == 0 {
		size = store.DefaultPageSize
	}
	if size < 1 || size > store.MaxPageSize {
		return nil, fmt.Errorf("sqlite: page size %d is not in 1..%d", opt.PageSize, store.MaxPageSize)
	}
	interval := opt.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	var kek cipher.AEAD
	if opt.KEK != nil {
		var err error
		if kek, err = seal.NewAEAD(opt.KEK); err != nil {
			return nil, fmt.Errorf("sqlite: key-encryption key: %w", err)
		}
	}
	db, err := openDB(ctx, path, opt.BusyTimeout, opt.FullSync)
	if err != nil {
		return nil, err
	}
	l := &Log{
		db: db, path: path, pageSize: size, encrypt: opt.Encrypt, kek: kek, writing: make(chan struct{}, 1),
		interval: interval, born: time.Now(), wake: make(chan struct{}, 1), poke: make(chan lookRequest), done: make(chan struct{}),
	}
	version, err := l.init(ctx)
	if err != nil {
		l.release()
		db.Close()
		return nil, err
	}
	wctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	go l.watch(wctx, version)
	return l, nil
}

// init creates or migrates the tables, prepares the statements, and loads
// the heads. It returns the data version the heads were loaded at.
func (l *Log) init(ctx context.Context) (int64, error) {
	if err := migrate(ctx, l.db, l.path, "log", logSchema); err != nil {
		return 0, err
	}
	stmts, err := prepare(ctx, l.db, append([]string{insertQuery, byIDQuery, feedRowQuery, upsertFeedQuery, readQuery, probeQuery, savepointQuery, releaseQuery,
		keyRowQuery, eraseKeyQuery}, keyQueries...)...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	l.stmts = stmts
	l.insert, l.byID, l.feedRow, l.upsertFeed, l.readStmt = stmts[0], stmts[1], stmts[2], stmts[3], stmts[4]
	l.probe, l.savepointStmt, l.releaseStmt = stmts[5], stmts[6], stmts[7]
	l.keyRow, l.eraseKey, l.keyStmts = stmts[8], stmts[9], stmts[10:]

	if l.writer, err = writer(ctx, l.db, logCacheKiB); err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	if l.watcher, err = l.db.Conn(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	if l.dataVersion, err = l.watcher.PrepareContext(ctx, "PRAGMA data_version"); err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	if l.allFeeds, err = l.watcher.PrepareContext(ctx, allFeedsQuery); err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	if l.erasures, err = l.watcher.PrepareContext(ctx, erasuresQuery); err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	// The version first: a commit between the two reads is then seen by
	// the watcher's first look.
	var version int64
	if err := l.dataVersion.QueryRowContext(ctx).Scan(&version); err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	if err := l.reload(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: open %s: %w", l.path, err)
	}
	return version, nil
}

// release closes what init opened.
func (l *Log) release() {
	closeAll(l.stmts)
	if l.writer != nil {
		l.writer.Close()
	}
	if l.watcher != nil {
		closeAll([]*sql.Stmt{l.dataVersion, l.allFeeds, l.erasures})
		l.watcher.Close()
	}
}

// watch makes commits by other connections (AppendTx, other processes)
// known to Wait, Feed and Feeds. SQLite's data_version, read on a
// connection of its own, changes whenever another connection committed;
// only then are the feeds read again.
//
// It looks every PollInterval while a Wait is under way, and otherwise
// only when asked (Notify, fresh): an idle Log costs nothing. A Wait that
// begins after a pause gets a look at once, unless one began less than
// PollInterval ago.
func (l *Log) watch(ctx context.Context, version int64) {
	defer close(l.done)
	timer := time.NewTimer(l.interval)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		timer.Stop()
		if l.waiting.Load() > 0 {
			timer.Reset(l.interval - time.Duration(l.now()-l.looked.Load()))
			due = timer.C
		}
		var req lookRequest
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
			continue
		case <-due:
		case req = <-l.poke:
			if !req.notify && l.looked.Load() >= req.since {
				close(req.ack)
				continue
			}
		}
		l.looked.Store(l.now())
		l.looks.Add(1)
		// A failure is retried at the next look. The read is not
		// interruptible, which spares the driver a goroutine for each:
		// in WAL mode it waits for no writer, and for anything else
		// (a recovery) at most BusyTimeout.
		var v int64
		if err := l.dataVersion.QueryRowContext(context.WithoutCancel(ctx)).Scan(&v); err == nil && v != version {
			if err := l.reload(ctx); err == nil {
				version = v
			}
			l.dropErased(ctx)
		}
		if req.ack != nil {
			close(req.ack)
		}
	}
}

// now is the time since the Log was opened, in nanoseconds, on the
// monotonic clock.
func (l *Log) now() int64 { return int64(time.Since(l.born)) }

// fresh makes the heads include every commit that any connection made at
// least PollInterval ago: when the last look began longer ago than that
// (nothing looks while no Wait is under way), it asks the watcher for a
// look and waits for it. Callers arriving together share one look.
func (l *Log) fresh(ctx context.Context) {
	now := l.now()
	if now-l.looked.Load() < int64(l.interval) {
		return
	}
	// A look that began after now-interval will do.
	l.look(ctx, lookRequest{ack: make(chan struct{}), since: now - int64(l.interval) + 1})
}

// look hands req to the watcher and waits until it is done, ctx is done
// or the Log is closed.
func (l *Log) look(ctx context.Context, req lookRequest) {
	select {
	case l.poke <- req:
	case <-l.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-req.ack:
	case <-l.done:
	case <-ctx.Done():
	}
}

// reload reads every feed's head from the file into l.heads.
func (l *Log) reload(ctx context.Context) error {
	rows, err := l.allFeeds.QueryContext(ctx)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			f       store.Feed
			head    int64
			updated int64
		)
		if err := rows.Scan(&f.Name, &f.Epoch, &f.PageSize, &head, &updated, &f.Encrypted); err != nil {
			return err
		}
		f.Head, f.Updated = uint64(head), time.Unix(0, updated).UTC()
		l.heads.Set(f)
	}
	return rows.Err()
}

// dropErased forgets the keys the Log keeps if an Erase was committed
// since they were read (see keys.go), so that no erased key stays in
// memory. On failure the Log forgets them all.
func (l *Log) dropErased(ctx context.Context) {
	var n int64
	if err := l.erasures.QueryRowContext(ctx).Scan(&n); err != nil {
		n = -1
	}
	l.keys.mu.Lock()
	if l.keys.n != n {
		l.keys.keys, l.keys.n = nil, n
	}
	l.keys.mu.Unlock()
}

// Notify makes the Log look for newly committed events now rather than at
// its next poll, and returns once it has: call it after committing a
// transaction that AppendTx wrote to, so that long polls wake at once and
// the requests that follow (Feed, and so a publisher's answers) see the
// events. It returns at once on a closed Log.
func (l *Log) Notify() {
	l.look(context.Background(), lookRequest{ack: make(chan struct{}), notify: true})
}

// DB returns the Log's database, for the caller's own tables and for the
// transactions given to AppendTx. Its transactions take SQLite's write
// lock when they begin (read-only ones excepted): keep them short. The
// pool holds up to 16 connections, two of them kept by the Log.
func (l *Log) DB() *sql.DB { return l.db }

// validate checks events before anything is written. Times must fit in
// Unix nanoseconds (years 1678 to 2262), which is how they are stored.
func validate(events []eventfeed.Event) error {
	for i := range events {
		e := &events[i]
		if err := e.Validate(); err != nil {
			return fmt.Errorf("sqlite: append event %d: %w", i, err)
		}
		if err := seal.CheckType(e); err != nil {
			return fmt.Errorf("sqlite: append event %d: %w", i, err)
		}
		if !e.Time.IsZero() && (e.Time.Before(minTime) || e.Time.After(maxTime)) {
			return fmt.Errorf("sqlite: append event %d: %w: Time %v is outside %d to %d", i, eventfeed.ErrInvalidEvent, e.Time, minTime.Year(), maxTime.Year())
		}
	}
	return nil
}

// Append stores events in one transaction, as store.Log.Append describes.
func (l *Log) Append(ctx context.Context, events ...eventfeed.Event) ([]eventfeed.Event, error) {
	if err := validate(events); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	if err := lock(ctx, l.writing); err != nil {
		return nil, fmt.Errorf("sqlite: append: %w", err)
	}
	defer unlock(l.writing)
	tx, err := l.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, l.fail(ctx, "append", err)
	}
	st := l.bind(ctx, tx)
	st.cache = true
	out, feeds, err := l.appendTx(ctx, &st, events)
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, l.fail(ctx, "append", err)
	}
	if st.used != nil {
		l.keys.add(st.erasures, st.used)
	}
	for _, f := range feeds {
		l.heads.Set(f)
	}
	return out, nil
}

// AppendTx stores events within tx, the caller's own transaction: the
// transactional outbox. The events become visible, and their seqs final,
// when the caller commits; if it rolls back, they were never stored. tx
// should come from DB(), so that it holds the write lock from its start
// (a transaction of another pool on the same file works too, but may fail
// with SQLITE_BUSY where one from DB() would have waited). Errors are as
// for Append, and leave tx usable; the caller decides whether to commit.
//
// Long polls learn of the events at the Log's next poll after the commit;
// call Notify after committing to wake them at once.
func (l *Log) AppendTx(ctx context.Context, tx *sql.Tx, events ...eventfeed.Event) ([]eventfeed.Event, error) {
	if err := validate(events); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	st, savepoint, release, err := l.txStmts(ctx, tx)
	if err != nil {
		return nil, err
	}
	defer st.close()
	// A failure leaves tx as it was, so that the caller can still commit
	// its own work: the savepoint undoes what this call wrote.
	if _, err := savepoint.ExecContext(ctx); err != nil {
		return nil, l.fail(ctx, "append", err)
	}
	out, _, err := l.appendTx(ctx, &st, events)
	if err != nil {
		if _, rerr := tx.ExecContext(context.WithoutCancel(ctx), rollbackQuery); rerr != nil {
			return nil, errors.Join(err, l.fail(ctx, "append: roll back to savepoint", rerr))
		}
		return nil, err
	}
	if _, err := release.ExecContext(ctx); err != nil {
		return nil, l.fail(ctx, "append", err)
	}
	return out, nil
}

// txStmts returns AppendTx's statements bound to tx, the caller's
// transaction. When tx is of this Log's pool (DB), they are the statements
// prepared at Open, which database/sql prepares once for each connection
// and then reuses: preparing the four append statements for each call
// cost tens of microseconds. A transaction of another pool cannot use
// them (its first statement fails without touching the database), so it
// gets statements prepared for this call alone, as before.
func (l *Log) txStmts(ctx context.Context, tx *sql.Tx) (st stmts, savepoint, release *sql.Stmt, err error) {
	probe := tx.StmtContext(ctx, l.probe)
	var one int
	err = probe.QueryRowContext(ctx).Scan(&one)
	probe.Close()
	if err == nil {
		all := []*sql.Stmt{
			tx.StmtContext(ctx, l.insert), tx.StmtContext(ctx, l.byID), tx.StmtContext(ctx, l.feedRow),
			tx.StmtContext(ctx, l.upsertFeed), tx.StmtContext(ctx, l.savepointStmt), tx.StmtContext(ctx, l.releaseStmt),
		}
		st = stmts{insert: all[0], byID: all[1], feedRow: all[2], upsertFeed: all[3], tx: tx, own: all}
		return st, all[4], all[5], nil
	}
	// Another pool's transaction, or a failing one: prepare on it, which
	// reports the failure if there is one.
	var all [6]*sql.Stmt
	for i, q := range []string{insertQuery, byIDQuery, feedRowQuery, upsertFeedQuery, savepointQuery, releaseQuery} {
		if all[i], err = tx.PrepareContext(ctx, q); err != nil {
			closeAll(all[:i])
			return stmts{}, nil, nil, l.fail(ctx, "append", err)
		}
	}
	st = stmts{insert: all[0], byID: all[1], feedRow: all[2], upsertFeed: all[3], tx: tx, foreign: true, own: all[:]}
	return st, all[4], all[5], nil
}

// stmts are the statements an append runs, bound to its transaction.
type stmts struct {
	insert, byID, feedRow, upsertFeed *sql.Stmt
	// keys are the key statements (Log.keyStmts) bound to tx, or
	// prepared on it when foreign, as an append first needs each.
	keys    []*sql.Stmt
	tx      *sql.Tx
	foreign bool // tx is of another pool: prepare on it
	// cache is set for Append, which uses the keys the Log keeps; used
	// is then the keys of the call and erasures the count they are
	// valid at (see keys.go).
	cache    bool
	used     map[string]cipher.AEAD
	erasures int64
	own      []*sql.Stmt // to close after an AppendTx call
}

// keyStmt returns the key statement l.keyStmts[i] for st's transaction.
func (st *stmts) keyStmt(ctx context.Context, l *Log, i int) (*sql.Stmt, error) {
	if st.keys == nil {
		st.keys = make([]*sql.Stmt, len(l.keyStmts))
	}
	if st.keys[i] != nil {
		return st.keys[i], nil
	}
	if !st.foreign {
		st.keys[i] = st.tx.StmtContext(ctx, l.keyStmts[i])
		return st.keys[i], nil
	}
	s, err := st.tx.PrepareContext(ctx, keyQueries[i])
	if err != nil {
		return nil, l.fail(ctx, "append", err)
	}
	st.keys[i] = s
	st.own = append(st.own, s)
	return s, nil
}

// bind returns the Log's append statements bound to tx, a transaction of
// the writer.
func (l *Log) bind(ctx context.Context, tx *sql.Tx) stmts {
	return stmts{
		insert:     tx.StmtContext(ctx, l.insert),
		byID:       tx.StmtContext(ctx, l.byID),
		feedRow:    tx.StmtContext(ctx, l.feedRow),
		upsertFeed: tx.StmtContext(ctx, l.upsertFeed),
		tx:         tx,
	}
}

// close closes the statements of one AppendTx call. (Closing one bound
// with Tx.StmtContext keeps the statement it was bound from.)
func (st stmts) close() { closeAll(st.own) }

// appendTx writes events within a transaction and returns them as stored,
// with the feeds whose heads moved.
func (l *Log) appendTx(ctx context.Context, st *stmts, events []eventfeed.Event) ([]eventfeed.Event, []store.Feed, error) {
	now := time.Now().UTC()
	out := make([]eventfeed.Event, len(events))
	var (
		feeds  []*store.Feed // in the order first met
		byName = make(map[string]*store.Feed, 1)
		moved  = make(map[string]bool, 1)
		seals  []*eventfeed.Event // the events to seal
	)
	for i := range events {
		e := &events[i]
		f := byName[e.Feed]
		if f == nil {
			var err error
			if f, err = l.loadFeed(ctx, st.feedRow, e.Feed); err != nil {
				return nil, nil, err
			}
			byName[e.Feed] = f
			feeds = append(feeds, f)
		}
		// A tombstone (only Erase appends one) goes into an encrypted
		// feed whatever this Log's option.
		if f.Encrypted != l.encrypt && e.Type != eventfeed.TypeErased {
			return nil, nil, encryptionError(e, f)
		}
		if f.Encrypted && e.Subject != "" && e.Type != eventfeed.TypeErased {
			seals = append(seals, e)
		}
	}
	keys, err := l.subjectKeys(ctx, st, seals)
	if err != nil {
		return nil, nil, err
	}
	for i := range events {
		e := &events[i]
		f := byName[e.Feed]
		ev := *e
		ev.Seq = f.Head + 1
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ev.Time = ev.Time.UTC().Truncate(eventfeed.TimePrecision)
		var (
			aead   cipher.AEAD
			format int // of the sealed parts stored, 0: none
			data   = nonNil(ev.Data)
			cty    = ev.ContentType
		)
		if f.Encrypted && ev.Subject != "" && ev.Type != eventfeed.TypeErased {
			// The row keeps the parts; the JWE is rebuilt from them and
			// the row's media type, subject and ID (see sealedRow).
			aead, format, cty = keys[seal.KeyAAD(ev.Feed, ev.Subject)], seal.Format1, ev.MediaType()
			data = seal.SealParts(aead, &ev)
			if ev.Data, err = seal.Compact(format, cty, ev.Subject, ev.ID, data); err != nil {
				return nil, nil, err
			}
			ev.ContentType = eventfeed.EncryptedContentType
		}
		res, err := st.insert.ExecContext(ctx, ev.Feed, int64(ev.Seq), ev.ID, ev.Type, ev.Subject, ev.Time.UnixNano(), cty, data, format)
		if err != nil {
			return nil, nil, l.fail(ctx, "append", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, nil, l.fail(ctx, "append", err)
		} else if n == 0 {
			// The ID is taken: by an earlier call, or earlier in this one.
			stored, err := l.eventByID(ctx, st.byID, e.ID)
			if err != nil {
				return nil, nil, err
			}
			same := e.SameContent(&stored)
			if aead != nil {
				// Sealing again gives other ciphertext: compare the
				// plaintext.
				same = stored.ContentType == eventfeed.EncryptedContentType && seal.SameContent(aead, e, &stored)
			}
			if !same {
				return nil, nil, fmt.Errorf("sqlite: append %s: %w (stored in %s at %d)", e.ID, eventfeed.ErrConflict, stored.Feed, stored.Seq)
			}
			out[i] = stored
			continue
		}
		f.Head, f.Updated = ev.Seq, ev.Time
		moved[f.Name] = true
		out[i] = ev
	}
	var changed []store.Feed
	for _, f := range feeds {
		if !moved[f.Name] {
			continue
		}
		if _, err := st.upsertFeed.ExecContext(ctx, f.Name, f.Epoch, f.PageSize, int64(f.Head), f.Updated.UnixNano(), f.Encrypted); err != nil {
			return nil, nil, l.fail(ctx, "append", err)
		}
		changed = append(changed, *f)
	}
	return out, changed, nil
}

// loadFeed reads the feed called name as the transaction sees it, or makes
// a new one: a fresh epoch, this Log's page size and encryption.
func (l *Log) loadFeed(ctx context.Context, feedRow *sql.Stmt, name string) (*store.Feed, error) {
	f := &store.Feed{Name: name}
	var head, updated int64
	err := feedRow.QueryRowContext(ctx, name).Scan(&f.Epoch, &f.PageSize, &head, &updated, &f.Encrypted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		f.Epoch, f.PageSize, f.Encrypted = newEpoch(), l.pageSize, l.encrypt
	case err != nil:
		return nil, l.fail(ctx, "append", err)
	default:
		f.Head, f.Updated = uint64(head), time.Unix(0, updated).UTC()
	}
	return f, nil
}

func (l *Log) eventByID(ctx context.Context, byID *sql.Stmt, id string) (eventfeed.Event, error) {
	e := eventfeed.Event{ID: id}
	var seq, t int64
	var format int
	err := byID.QueryRowContext(ctx, id).Scan(&e.Feed, &seq, &e.Type, &e.Subject, &t, &e.ContentType, &e.Data, &format)
	if err != nil {
		return e, l.fail(ctx, "append", err)
	}
	e.Seq, e.Time = uint64(seq), time.Unix(0, t).UTC()
	return e, sealedRow(&e, format)
}

// sealedRow turns e, read from a row whose sealed column is format, into
// the event as Append returned it: for a sealed row (format > 0), whose
// data holds the parts of its JWE and content_type the plaintext's media
// type, the JWE compact serialization, of EncryptedContentType. A row
// that does not rebuild is an error wrapping eventfeed.ErrDecrypt.
func sealedRow(e *eventfeed.Event, format int) error {
	if format == 0 {
		return nil
	}
	data, err := seal.Compact(format, e.ContentType, e.Subject, e.ID, e.Data)
	if err != nil {
		return fmt.Errorf("sqlite: event %s of feed %s at %d: %w", e.ID, e.Feed, e.Seq, err)
	}
	e.Data, e.ContentType = data, eventfeed.EncryptedContentType
	return nil
}

// Read returns the events of feed with from <= Seq <= to.
func (l *Log) Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error) {
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	from = max(from, 1)
	to = min(to, math.MaxInt64)
	var out []eventfeed.Event
	if from <= to {
		if f, ok := l.heads.Get(feed); ok && f.Head >= from {
			out = make([]eventfeed.Event, 0, min(min(to, f.Head)-from+1, store.MaxPageSize))
		}
		rows, err := l.readStmt.QueryContext(ctx, feed, int64(from), int64(to))
		if err != nil {
			return nil, l.fail(ctx, "read "+feed, err)
		}
		defer rows.Close()
		for rows.Next() {
			e := eventfeed.Event{Feed: feed}
			var (
				seq, t int64
				format int
			)
			if err := rows.Scan(&seq, &e.ID, &e.Type, &e.Subject, &t, &e.ContentType, &e.Data, &format); err != nil {
				return nil, l.fail(ctx, "read "+feed, err)
			}
			e.Seq, e.Time = uint64(seq), time.Unix(0, t).UTC()
			if err := sealedRow(&e, format); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return nil, l.fail(ctx, "read "+feed, err)
		}
	}
	if len(out) == 0 {
		if _, ok := l.heads.Get(feed); !ok {
			// Perhaps committed by another process since the last poll.
			var epoch string
			var size, head, updated int64
			var encrypted bool
			err := l.feedRow.QueryRowContext(ctx, feed).Scan(&epoch, &size, &head, &updated, &encrypted)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return nil, fmt.Errorf("sqlite: read %q: %w", feed, eventfeed.ErrFeedNotFound)
			case err != nil:
				return nil, l.fail(ctx, "read "+feed, err)
			}
		}
		return nil, nil
	}
	return out, nil
}

// Feed describes the feed called name, from memory, which includes the
// commits of other connections and processes made PollInterval ago or
// earlier.
func (l *Log) Feed(ctx context.Context, name string) (store.Feed, error) {
	if l.closed.Load() {
		return store.Feed{}, eventfeed.ErrClosed
	}
	l.fresh(ctx)
	f, ok := l.heads.Get(name)
	if !ok {
		return store.Feed{}, fmt.Errorf("sqlite: feed %q: %w", name, eventfeed.ErrFeedNotFound)
	}
	return f, nil
}

// Feeds lists every feed, sorted by name, from memory, as Feed describes.
func (l *Log) Feeds(ctx context.Context) ([]store.Feed, error) {
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	l.fresh(ctx)
	return l.heads.List(), nil
}

// Wait blocks until the head of feed passes after, or ctx is done, or the
// Log is closed (eventfeed.ErrClosed). Events committed by other
// connections and processes wake it within about Options.PollInterval. An
// invalid feed name is an error at once.
func (l *Log) Wait(ctx context.Context, feed string, after uint64) (store.Feed, error) {
	if err := eventfeed.ValidateFeedName(feed); err != nil {
		return store.Feed{}, fmt.Errorf("sqlite: wait: %w", err)
	}
	// The first Wait under way starts the watcher's polling.
	if l.waiting.Add(1) == 1 {
		select {
		case l.wake <- struct{}{}:
		default: // a wake is pending already
		}
	}
	defer l.waiting.Add(-1)
	return l.heads.Wait(ctx, feed, after)
}

// Close stops watching the file, wakes every Wait with eventfeed.ErrClosed
// and closes the database once the calls under way have finished.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.stop()
	<-l.done
	l.heads.Close()
	l.release()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", l.path, err)
	}
	return nil
}

// fail wraps err, which a database call made for op returned.
func (l *Log) fail(ctx context.Context, op string, err error) error {
	if l.closed.Load() && !errors.Is(err, context.Canceled) {
		return eventfeed.ErrClosed
	}
	return fmt.Errorf("sqlite: %s: %w", op, ctxErr(ctx, err))
}
