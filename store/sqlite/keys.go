package sqlite

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
)

// The data keys of encrypted feeds are rows of eventfeed_keys, written in
// the transaction of the append that first needs them. Erase sets the
// row's secret to NULL and records the tombstone's seq in the same
// transaction as the tombstone: the row then refuses every later append
// for the subject, from this process or another.
//
// Every Erase also counts itself in eventfeed_erasures, in its
// transaction. A Log keeps the keys its Appends used (up to
// maxCachedKeys) together with the count they were read at; each Append
// reads the count in its own transaction, which holds SQLite's write
// lock, and uses the kept keys only if no Erase, by any process, came
// since: an append that commits after an Erase always sees the erasure.
// Keys are kept only from committed Appends (a rolled-back append's new
// key was never stored), and dropped as soon as the watcher sees a new
// count, so an erased key does not stay in memory either. AppendTx reads
// every key from the table.
//
// secure_delete (see openDB) zeroes the old secret where it lay in the
// page, and after the commit Erase checkpoints the WAL and truncates it,
// so that no earlier copy of the page stays in the -wal file either.

const (
	keyRowQuery   = `SELECT secret, erased FROM eventfeed_keys WHERE feed = ? AND subject = ?`
	eraseKeyQuery = `UPDATE eventfeed_keys SET secret = NULL, erased = ? WHERE feed = ? AND subject = ?`
	// erasuresQuery reads how many Erases were committed; countErasure
	// counts one more.
	erasuresQuery = `SELECT n FROM eventfeed_erasures`
	countErasure  = `UPDATE eventfeed_erasures SET n = n + 1`
	// checkpointQuery copies the WAL into the database and truncates it,
	// waiting (up to the busy timeout) for readers of older snapshots.
	checkpointQuery = `PRAGMA wal_checkpoint(TRUNCATE)`
)

// maxCachedKeys bounds the keys a Log keeps between Appends; the Log
// forgets them all when one more would pass it.
const maxCachedKeys = 4096

// keyCache is the keys a Log's Appends used, valid while no Erase is
// counted after n.
type keyCache struct {
	mu   sync.Mutex
	n    int64
	keys map[string]cipher.AEAD // by seal.KeyAAD
}

// at forgets the keys unless n is the count they were kept at. Call it
// with mu held.
func (c *keyCache) at(n int64) {
	if c.n != n {
		clear(c.keys)
		c.n = n
	}
}

// add keeps keys, which an Append that read the count n committed.
func (c *keyCache) add(n int64, keys map[string]cipher.AEAD) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n != n {
		return // an Erase came since
	}
	if c.keys == nil || len(c.keys)+len(keys) > maxCachedKeys {
		c.keys = make(map[string]cipher.AEAD, min(len(keys), maxCachedKeys))
	}
	if len(keys) > maxCachedKeys {
		return
	}
	for aad, k := range keys {
		c.keys[aad] = k
	}
}

// forget drops every key and waits for a count other than n to use any
// again: an Erase is under way or committed.
func (c *keyCache) forget(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys, c.n = nil, n
}

// keyChunk is how many subjects one statement reads or stores keys of:
// an append's keys take a statement per keyChunk subjects of a feed, and
// one or a few for the rest (statements take powers of two), whatever
// the number of events. Parameters bound one by one cost less than the JSON array
// the statements took before, which SQLite parsed again for each value.
const keyChunk = 32

// keyRowsQueries[i] reads the keys of 1<<i subjects (?2 and on) of feed
// ?1; a list between two sizes repeats its last subject. The largest
// takes keyChunk.
var keyRowsQueries = func() []string {
	var qs []string
	for n := 1; n <= keyChunk; n *= 2 {
		qs = append(qs, `SELECT subject, secret, erased FROM eventfeed_keys WHERE feed = ?1 AND subject IN (?2`+strings.Repeat(", ?", n-1)+`)`)
	}
	return qs
}()

// insertKeysQueries[i] stores the keys of 1<<i subjects: feed, subject
// and stored key for each. The largest stores keyChunk.
var insertKeysQueries = func() []string {
	var qs []string
	for n := 1; n <= keyChunk; n *= 2 {
		qs = append(qs, `INSERT INTO eventfeed_keys (feed, subject, secret) VALUES (?, ?, ?)`+strings.Repeat(", (?, ?, ?)", n-1))
	}
	return qs
}()

// keyQueries are the statements of keyStmts: the keyRowsQueries, the
// insertKeysQueries, erasuresQuery.
var keyQueries = append(append(slices.Clip(keyRowsQueries), insertKeysQueries...), erasuresQuery)

// ErrWALBusy reports an Erase whose key is destroyed in the database but
// whose earlier copy may remain in the WAL file: readers kept the WAL from
// being truncated for the whole busy timeout. Erase again (it appends
// nothing more) once the readers are done.
var ErrWALBusy = errors.New("sqlite: the WAL could not be truncated: readers are busy")

// subjectKeys returns the AEADs of the subjects of events, which are to be
// sealed, by seal.KeyAAD, making the keys of subjects that have none. It
// reads and writes the key table in a statement per keyChunk subjects:
// a statement costs more than sealing an event.
func (l *Log) subjectKeys(ctx context.Context, st *stmts, events []*eventfeed.Event) (map[string]cipher.AEAD, error) {
	if len(events) == 0 {
		return nil, nil
	}
	first := make(map[string]*eventfeed.Event, len(events)) // by seal.KeyAAD
	var (
		feeds    []string                // in the order first met
		subjects = map[string][]string{} // by feed
	)
	for _, e := range events {
		aad := seal.KeyAAD(e.Feed, e.Subject)
		if _, ok := first[aad]; !ok {
			first[aad] = e
			if subjects[e.Feed] == nil {
				feeds = append(feeds, e.Feed)
			}
			subjects[e.Feed] = append(subjects[e.Feed], e.Subject)
		}
	}
	keys := make(map[string]cipher.AEAD, len(first))
	if st.cache {
		// Appends only: the keys of a committed one are kept (see
		// Append), and used while no Erase is counted.
		stmt, err := st.keyStmt(ctx, l, len(keyQueries)-1)
		if err != nil {
			return nil, err
		}
		if err := stmt.QueryRowContext(ctx).Scan(&st.erasures); err != nil {
			return nil, l.fail(ctx, "append", err)
		}
		l.keys.mu.Lock()
		l.keys.at(st.erasures)
		for aad := range first {
			if k := l.keys.keys[aad]; k != nil {
				keys[aad] = k
			}
		}
		l.keys.mu.Unlock()
		st.used = keys
		if len(keys) > 0 {
			for _, feed := range feeds {
				subjects[feed] = slices.DeleteFunc(subjects[feed], func(s string) bool { return keys[seal.KeyAAD(feed, s)] != nil })
			}
		}
	}
	args := make([]any, 0, 1+keyChunk)
	for _, feed := range feeds {
		all := subjects[feed]
		for len(all) > 0 {
			chunk := all[:min(len(all), keyChunk)]
			all = all[len(chunk):]
			i := bits.Len(uint(len(chunk) - 1)) // the smallest statement that takes chunk
			args = append(args[:0], feed)
			for j := range 1 << i {
				args = append(args, chunk[min(j, len(chunk)-1)])
			}
			if err := l.readKeys(ctx, st, i, feed, args, first, keys); err != nil {
				return nil, err
			}
		}
	}

	var fresh []any // feed, subject, stored key
	for _, feed := range feeds {
		for _, subject := range subjects[feed] {
			aad := seal.KeyAAD(feed, subject)
			if keys[aad] != nil {
				continue
			}
			secret := seal.NewKey()
			var err error
			if keys[aad], err = seal.NewAEAD(secret); err != nil {
				return nil, err
			}
			fresh = append(fresh, feed, subject, seal.Wrap(l.kek, secret, aad))
		}
	}
	for len(fresh) > 0 {
		i := bits.Len(uint(min(len(fresh)/3, keyChunk))) - 1 // the largest statement that fits
		n := 3 << i
		stmt, err := st.keyStmt(ctx, l, len(keyRowsQueries)+i)
		if err != nil {
			return nil, err
		}
		if _, err := stmt.ExecContext(ctx, fresh[:n]...); err != nil {
			return nil, l.fail(ctx, "append", err)
		}
		fresh = fresh[n:]
	}
	return keys, nil
}

// readKeys reads the keys of args (feed, then 1<<i subjects) into keys,
// by seal.KeyAAD; first has the first event of each subject.
func (l *Log) readKeys(ctx context.Context, st *stmts, i int, feed string, args []any, first map[string]*eventfeed.Event, keys map[string]cipher.AEAD) error {
	stmt, err := st.keyStmt(ctx, l, i)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return l.fail(ctx, "append", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			subject string
			stored  []byte
			erased  sql.NullInt64
		)
		if err := rows.Scan(&subject, &stored, &erased); err != nil {
			return l.fail(ctx, "append", err)
		}
		aad := seal.KeyAAD(feed, subject)
		e := first[aad]
		if e == nil {
			return fmt.Errorf("sqlite: append: key table answered for %q in feed %s, not asked for", subject, feed)
		}
		if erased.Valid {
			return fmt.Errorf("sqlite: append %s: subject %q of feed %s: %w", e.ID, e.Subject, e.Feed, eventfeed.ErrErased)
		}
		secret, err := seal.Unwrap(l.kek, stored, aad)
		if err != nil {
			return fmt.Errorf("sqlite: append %s: key of %q in feed %s: %w", e.ID, e.Subject, e.Feed, err)
		}
		if keys[aad], err = seal.NewAEAD(secret); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return l.fail(ctx, "append", err)
	}
	return nil
}

// encryptionError is the error of appending e to f through a Log whose
// Encrypt option differs from f's encryption.
func encryptionError(e *eventfeed.Event, f *store.Feed) error {
	if f.Encrypted {
		return fmt.Errorf("sqlite: append %s: feed %s is encrypted, and this Log does not encrypt: %w", e.ID, e.Feed, eventfeed.ErrEncryption)
	}
	return fmt.Errorf("sqlite: append %s: feed %s is not encrypted, and this Log encrypts: %w", e.ID, e.Feed, eventfeed.ErrEncryption)
}

// Key returns the data key of subject in feed, as store.Keyring.Key
// describes. A key stored wrapped under another key-encryption key than
// the Log's (or under one, when the Log has none) is an error wrapping
// seal.ErrWrongKEK.
func (l *Log) Key(ctx context.Context, feed, subject string) (store.Key, error) {
	if l.closed.Load() {
		return store.Key{}, eventfeed.ErrClosed
	}
	var (
		stored []byte
		erased sql.NullInt64
	)
	err := l.keyRow.QueryRowContext(ctx, feed, subject).Scan(&stored, &erased)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Key{}, fmt.Errorf("sqlite: key of %q in feed %s: %w", subject, feed, store.ErrKeyNotFound)
	case err != nil:
		return store.Key{}, l.fail(ctx, "key", err)
	case erased.Valid:
		return store.Key{}, fmt.Errorf("sqlite: key of %q in feed %s: %w", subject, feed, eventfeed.ErrErased)
	}
	secret, err := seal.Unwrap(l.kek, stored, seal.KeyAAD(feed, subject))
	if err != nil {
		return store.Key{}, fmt.Errorf("sqlite: key of %q in feed %s: %w", subject, feed, err)
	}
	return store.Key{Feed: feed, Subject: subject, Secret: secret}, nil
}

// Erase destroys the data key of subject in feed and appends its
// tombstone, as store.Keyring.Erase describes; any Log on the file may
// erase, whether it encrypts or not.
//
// After the commit it checkpoints the WAL and truncates it, so that the
// file holds no earlier copy of the key's page. If readers keep it from
// doing so for the busy timeout, it returns the tombstone with an error
// wrapping ErrWALBusy: the key is destroyed, and a second Erase, which
// appends nothing, tries the checkpoint again.
func (l *Log) Erase(ctx context.Context, feed, subject string) (eventfeed.Event, error) {
	if err := ctx.Err(); err != nil {
		return eventfeed.Event{}, err
	}
	if l.closed.Load() {
		return eventfeed.Event{}, eventfeed.ErrClosed
	}
	if err := lock(ctx, l.writing); err != nil {
		return eventfeed.Event{}, fmt.Errorf("sqlite: erase: %w", err)
	}
	defer unlock(l.writing)
	tx, err := l.writer.BeginTx(ctx, nil)
	if err != nil {
		return eventfeed.Event{}, l.fail(ctx, "erase", err)
	}
	// The kept keys are not used again before an Append has read the
	// count this Erase adds to.
	defer l.keys.forget(-1)
	tomb, feeds, err := l.erase(ctx, tx, feed, subject)
	if err != nil {
		tx.Rollback()
		return eventfeed.Event{}, err
	}
	if err := tx.Commit(); err != nil {
		return eventfeed.Event{}, l.fail(ctx, "erase", err)
	}
	for _, f := range feeds {
		l.heads.Set(f)
	}
	var busy, frames, copied int
	if err := l.writer.QueryRowContext(context.WithoutCancel(ctx), checkpointQuery).Scan(&busy, &frames, &copied); err != nil {
		return tomb, l.fail(ctx, "erase: checkpoint", err)
	}
	if busy != 0 {
		return tomb, fmt.Errorf("sqlite: erase %q from feed %s: key destroyed, but %w; erase again to retry", subject, feed, ErrWALBusy)
	}
	return tomb, nil
}

// erase is Erase's transaction.
func (l *Log) erase(ctx context.Context, tx *sql.Tx, feed, subject string) (eventfeed.Event, []store.Feed, error) {
	st := l.bind(ctx, tx)
	f, err := l.loadFeed(ctx, st.feedRow, feed)
	switch {
	case err != nil:
		return eventfeed.Event{}, nil, err
	case f.Head == 0:
		return eventfeed.Event{}, nil, fmt.Errorf("sqlite: erase %q: %w", feed, eventfeed.ErrFeedNotFound)
	case !f.Encrypted:
		return eventfeed.Event{}, nil, fmt.Errorf("sqlite: erase %q from feed %s: the feed is not encrypted: %w", subject, feed, eventfeed.ErrEncryption)
	}
	var (
		stored []byte
		erased sql.NullInt64
	)
	err = tx.StmtContext(ctx, l.keyRow).QueryRowContext(ctx, feed, subject).Scan(&stored, &erased)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventfeed.Event{}, nil, fmt.Errorf("sqlite: erase %q from feed %s: %w", subject, feed, store.ErrKeyNotFound)
	case err != nil:
		return eventfeed.Event{}, nil, l.fail(ctx, "erase", err)
	case erased.Valid:
		tomb, err := l.eventByID(ctx, st.byID, seal.Tombstone(feed, subject).ID)
		return tomb, nil, err
	}
	out, feeds, err := l.appendTx(ctx, &st, []eventfeed.Event{seal.Tombstone(feed, subject)})
	if err != nil {
		return eventfeed.Event{}, nil, err
	}
	if _, err := tx.StmtContext(ctx, l.eraseKey).ExecContext(ctx, int64(out[0].Seq), feed, subject); err != nil {
		return eventfeed.Event{}, nil, l.fail(ctx, "erase", err)
	}
	if _, err := tx.ExecContext(ctx, countErasure); err != nil {
		return eventfeed.Event{}, nil, l.fail(ctx, "erase", err)
	}
	return out[0], feeds, nil
}
