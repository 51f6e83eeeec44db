package sqlite

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
)

// The data keys of encrypted feeds are rows of eventfeed_keys, written in
// the transaction of the append that first needs them. Erase sets the
// row's secret to NULL and records the tombstone's seq in the same
// transaction as the tombstone: the row then refuses every later append
// for the subject, from this process or another. No key is kept in memory
// beyond one call: every append reads its subjects' rows in its own
// transaction, which holds SQLite's write lock, so an append that commits
// after an Erase always sees the erasure.
//
// secure_delete (see openDB) zeroes the old secret where it lay in the
// page, and after the commit Erase checkpoints the WAL and truncates it,
// so that no earlier copy of the page stays in the -wal file either.

const (
	keyRowQuery = `SELECT secret, erased FROM eventfeed_keys WHERE feed = ? AND subject = ?`
	// keyRowsQuery reads the keys of a JSON array of [feed, subject]
	// pairs; CROSS JOIN makes SQLite look each pair up in the table's
	// key, never scan the table.
	keyRowsQuery = `SELECT k.feed, k.subject, k.secret, k.erased
		FROM json_each(?) AS j CROSS JOIN eventfeed_keys AS k ON k.feed = j.value ->> 0 AND k.subject = j.value ->> 1`
	// insertKeysQuery stores the keys of a JSON array of [feed, subject,
	// stored key in hex] triples.
	insertKeysQuery = `INSERT INTO eventfeed_keys (feed, subject, secret)
		SELECT value ->> 0, value ->> 1, unhex(value ->> 2) FROM json_each(?)`
	eraseKeyQuery = `UPDATE eventfeed_keys SET secret = NULL, erased = ? WHERE feed = ? AND subject = ?`
	// checkpointQuery copies the WAL into the database and truncates it,
	// waiting (up to the busy timeout) for readers of older snapshots.
	checkpointQuery = `PRAGMA wal_checkpoint(TRUNCATE)`
)

// ErrWALBusy reports an Erase whose key is destroyed in the database but
// whose earlier copy may remain in the WAL file: readers kept the WAL from
// being truncated for the whole busy timeout. Erase again (it appends
// nothing more) once the readers are done.
var ErrWALBusy = errors.New("sqlite: the WAL could not be truncated: readers are busy")

// subjectKeys returns the AEADs of the subjects of events, which are to be
// sealed, by seal.KeyAAD, making the keys of subjects that have none. It
// reads and writes the key table in a statement each, whatever the number
// of events: a statement costs more than sealing an event.
func (l *Log) subjectKeys(ctx context.Context, st stmts, events []*eventfeed.Event) (map[string]cipher.AEAD, error) {
	if len(events) == 0 {
		return nil, nil
	}
	first := make(map[string]*eventfeed.Event, len(events)) // by seal.KeyAAD
	var pairs [][2]string
	for _, e := range events {
		aad := seal.KeyAAD(e.Feed, e.Subject)
		if _, ok := first[aad]; !ok {
			first[aad] = e
			pairs = append(pairs, [2]string{e.Feed, e.Subject})
		}
	}
	arg, err := json.Marshal(pairs)
	if err != nil {
		return nil, err
	}
	if st.keyRows == nil {
		st.keyRows, st.insertKeys = st.tx.StmtContext(ctx, l.keyRows), st.tx.StmtContext(ctx, l.insertKeys)
	}
	keys := make(map[string]cipher.AEAD, len(pairs))
	rows, err := st.keyRows.QueryContext(ctx, arg)
	if err != nil {
		return nil, l.fail(ctx, "append", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			feed, subject string
			stored        []byte
			erased        sql.NullInt64
		)
		if err := rows.Scan(&feed, &subject, &stored, &erased); err != nil {
			return nil, l.fail(ctx, "append", err)
		}
		aad := seal.KeyAAD(feed, subject)
		e := first[aad]
		if e == nil {
			return nil, fmt.Errorf("sqlite: append: key table answered for %q in feed %s, not asked for", subject, feed)
		}
		if erased.Valid {
			return nil, fmt.Errorf("sqlite: append %s: subject %q of feed %s: %w", e.ID, e.Subject, e.Feed, eventfeed.ErrErased)
		}
		secret, err := seal.Unwrap(l.kek, stored, aad)
		if err != nil {
			return nil, fmt.Errorf("sqlite: append %s: key of %q in feed %s: %w", e.ID, e.Subject, e.Feed, err)
		}
		if keys[aad], err = seal.NewAEAD(secret); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, l.fail(ctx, "append", err)
	}
	rows.Close()

	var fresh [][3]string // feed, subject, stored key in hex
	for _, p := range pairs {
		aad := seal.KeyAAD(p[0], p[1])
		if keys[aad] != nil {
			continue
		}
		secret := seal.NewKey()
		if keys[aad], err = seal.NewAEAD(secret); err != nil {
			return nil, err
		}
		fresh = append(fresh, [3]string{p[0], p[1], hex.EncodeToString(seal.Wrap(l.kek, secret, aad))})
	}
	if len(fresh) > 0 {
		arg, err := json.Marshal(fresh)
		if err != nil {
			return nil, err
		}
		if _, err := st.insertKeys.ExecContext(ctx, arg); err != nil {
			return nil, l.fail(ctx, "append", err)
		}
	}
	return keys, nil
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
	out, feeds, err := l.appendTx(ctx, st, []eventfeed.Event{seal.Tombstone(feed, subject)})
	if err != nil {
		return eventfeed.Event{}, nil, err
	}
	if _, err := tx.StmtContext(ctx, l.eraseKey).ExecContext(ctx, int64(out[0].Seq), feed, subject); err != nil {
		return eventfeed.Event{}, nil, l.fail(ctx, "erase", err)
	}
	return out[0], feeds, nil
}
