package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors of this package; the ones every store shares are in package
// eventfeed.
var (
	// ErrIncompatible reports a file this package cannot use: not an
	// SQLite database, or one whose eventfeed tables were made by a newer
	// version of the package.
	ErrIncompatible = errors.New("sqlite: incompatible database file")
	// ErrNotFound reports a document the Replica does not have.
	ErrNotFound = errors.New("sqlite: not found")
)

// DefaultBusyTimeout is how long a write waits for another connection's
// transaction to finish before it fails.
const DefaultBusyTimeout = 5 * time.Second

// walPages is how many pages the WAL may grow to before a commit copies
// them back into the database file. SQLite's default (1000) makes a commit
// of a large batch checkpoint nearly every time; a page that many commits
// change, such as a leaf of the event ID index, is copied once per
// checkpoint instead of once per commit.
const walPages = 16384

// logCacheKiB is the page cache of the connection a Log writes with, in
// KiB. Inserting IDs in random order touches pages all over the ID index;
// keeping them in memory spares a read for each. Other connections keep
// SQLite's default (2 MiB).
const logCacheKiB = 64 << 10

// replicaCacheKiB is the page cache of the connection a Replica writes
// with, in KiB: it holds the pages that updates of some ten thousand
// Latest documents in random order touch, and BenchmarkApply's updates
// scattered over 10,000 documents are as fast as with the Log's 64 MiB
// (2 MiB made them 10–20% slower). A page cache is allocated page by page
// as it fills, and a replica being built grows all the time, so each page
// of a larger cache is a fresh allocation and its page faults. On the
// machine of BENCHMARKS.md a page fault costs about 11 µs, and with 64 MiB
// a catch-up of 200,000 events into a new replica cost the poller about
// 0.9 s more CPU (4.2 against 3.3 s with pages of 100 entries, 3.6
// against 2.7 s with 500), and BenchmarkApply's growing replica
// ("lifecycle") 8% more time.
const replicaCacheKiB = 8 << 10

// maxConns bounds each pool. SQLite runs one writer at a time, and every
// connection holds its own page cache, so a few connections serve any
// number of goroutines; callers may change it through DB().
const maxConns = 16

// openDB opens the database at path with the settings both stores share.
//
// WAL lets readers go on while one writer commits. synchronous=NORMAL in
// WAL mode syncs the WAL at checkpoints instead of at every commit: a
// crash of the process loses nothing and no failure corrupts the file, but
// a power loss or OS crash may roll back the last commits. A commit then
// costs no fsync, which is what makes single appends fast; fullSync asks
// for synchronous=FULL instead. _txlock=immediate makes every read-write
// transaction take the write lock when it begins, so that two transactions
// never both read and then wait forever to upgrade to write: the second
// one waits at BEGIN, up to the busy timeout, and then sees the first's
// commit.
func openDB(ctx context.Context, path string, busy time.Duration, fullSync bool) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	sync := "NORMAL"
	if fullSync {
		sync = "FULL"
	}
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q["_pragma"] = []string{
		"busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")",
		"journal_mode(WAL)",
		"synchronous(" + sync + ")",
		"foreign_keys(ON)",
		// Deleted content is overwritten with zeros, so that an erased
		// data key (see Log.Erase), or a row a replica deleted, does not
		// linger in free space.
		"secure_delete(ON)",
		"wal_autocheckpoint(" + strconv.Itoa(walPages) + ")",
		"journal_size_limit(" + strconv.Itoa(walPages*4096) + ")",
	}
	// A file: URI with the path escaped, so that a '?' or '#' in a file
	// name is part of the name.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, translate(err))
	}
	return db, nil
}

// writer returns a connection of db for a store's own write transactions,
// with a page cache of cacheKiB.
func writer(ctx context.Context, db *sql.DB, cacheKiB int) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "PRAGMA cache_size = -"+strconv.Itoa(cacheKiB)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// migrate brings the tables of component (its name in eventfeed_schema) up
// to date: steps[i] takes the schema from version i to i+1.
func migrate(ctx context.Context, db *sql.DB, path, component string, steps []string) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, translate(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = fmt.Errorf("sqlite: open %s: %w", path, translate(err))
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS eventfeed_schema (
		component TEXT PRIMARY KEY,
		version   INTEGER NOT NULL
	) WITHOUT ROWID`); err != nil {
		return err
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM eventfeed_schema WHERE component = ?`, component).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case v > len(steps):
		return fmt.Errorf("%w: %s schema version %d is newer than this package's %d", ErrIncompatible, component, v, len(steps))
	}
	for ; v < len(steps); v++ {
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
			return fmt.Errorf("migrate %s schema to version %d: %w", component, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO eventfeed_schema (component, version) VALUES (?, ?)
		ON CONFLICT (component) DO UPDATE SET version = excluded.version`, component, v); err != nil {
		return err
	}
	return tx.Commit()
}

// translate turns driver errors into this package's where they mean one.
func translate(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return fmt.Errorf("%w: not an SQLite database (%v)", ErrIncompatible, err)
	}
	return err
}

// ctxErr returns the error to report for err, which happened while ctx was
// in use: ctx's own error when it is done (the driver reports an
// interruption in words of its own), else err.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return translate(err)
}

// prepare prepares queries on db, in order.
func prepare(ctx context.Context, db *sql.DB, queries ...string) ([]*sql.Stmt, error) {
	stmts := make([]*sql.Stmt, 0, len(queries))
	for _, q := range queries {
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			closeAll(stmts)
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		stmts = append(stmts, s)
	}
	return stmts, nil
}

// closeAll closes the statements that are not nil.
func closeAll(stmts []*sql.Stmt) {
	for _, s := range stmts {
		if s != nil {
			s.Close()
		}
	}
}

// lock takes the one-slot semaphore sem, or gives up when ctx ends.
func lock(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func unlock(sem chan struct{}) { <-sem }

// timeRange is the span of times stored as Unix nanoseconds in an int64.
var (
	minTime = time.Unix(0, -1<<63)
	maxTime = time.Unix(0, 1<<63-1)
)
