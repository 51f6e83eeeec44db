package postgres

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
)

// Encrypted feeds.
//
// A feed's encryption is a row of the encryption table, inserted by the
// first append to the feed in a short transaction of its own, committed at
// once, not in the append's: a caller's transaction that appends to a new
// feed must not hold up the others that do (see AppendTx), and the row
// never changes once written. So the first append to a feed fixes its
// encryption even if its own transaction then rolls back. The sequencer
// knows nothing of it: the events reach the outbox sealed and travel into
// the log as they are.
//
// A subject's data key is a row of the keys table, made by the append
// that first needs it, in its transaction (the caller's, for AppendTx).
// Appends and Erase of one subject are serialised by a transaction-level
// advisory lock of the (feed, subject): an append takes it shared, Erase
// exclusive. An advisory lock, not a row lock, because a row lock gives
// the transaction its ID before it waits: an Erase could then hold a
// lower ID than an append it waited for, and the sequencer, which orders
// the transactions of one round by ID, would place the append's event
// after the tombstone. With the advisory lock, Erase writes (and gets its
// ID) only once every append holding the lock has committed, and an
// append that waited for Erase reads the erased row and fails with
// eventfeed.ErrErased.
//
// Erase sets the row's secret to NULL and keeps the row, marked erased,
// so that later appends for the subject fail. PostgreSQL never overwrites
// a row in place: the old version stays in the table's file until VACUUM
// removes it (which Erase runs after its commit) and its space is reused,
// and in the write-ahead log until the server recycles the segment. No
// SQL can read it once the erasure committed, except a transaction whose
// snapshot is older.

// keySQL holds the statements of encrypted feeds.
type keySQL struct {
	insertModes, modes, mode, lockShared, lockExclusive, keys, insertKeys, key, eraseKey, vacuumKeys string
}

func newKeySQL(f func(string) string) keySQL {
	return keySQL{
		insertModes: f(`INSERT INTO %[1]s.encryption (feed, encrypted) SELECT unnest($1::text[]), $2
ON CONFLICT (feed) DO NOTHING`),
		modes:         f(`SELECT feed, encrypted FROM %[1]s.encryption WHERE feed = ANY($1)`),
		mode:          f(`SELECT encrypted FROM %[1]s.encryption WHERE feed = $1`),
		lockShared:    `SELECT pg_advisory_xact_lock_shared(k) FROM (SELECT unnest($1::bigint[]) k ORDER BY 1) l`,
		lockExclusive: `SELECT pg_advisory_xact_lock($1)`,
		keys: f(`SELECT k.feed, k.subject, k.secret, k.erased
FROM %[1]s.keys k JOIN unnest($1::text[], $2::text[]) u(feed, subject) ON k.feed = u.feed AND k.subject = u.subject`),
		insertKeys: f(`INSERT INTO %[1]s.keys (feed, subject, secret) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
ON CONFLICT (feed, subject) DO NOTHING RETURNING feed, subject`),
		key:        f(`SELECT secret, erased FROM %[1]s.keys WHERE feed = $1 AND subject = $2`),
		eraseKey:   f(`UPDATE %[1]s.keys SET secret = NULL, erased = true WHERE feed = $1 AND subject = $2`),
		vacuumKeys: f(`VACUUM %[1]s.keys`),
	}
}

// checkTypes refuses events of the type reserved to tombstones.
func checkTypes(events []eventfeed.Event) error {
	for i := range events {
		if err := seal.CheckType(&events[i]); err != nil {
			return fmt.Errorf("postgres: append event %d: %w", i, err)
		}
	}
	return nil
}

// subjectLock is the key of the advisory lock of subject in feed.
func (l *Log) subjectLock(feed, subject string) int64 {
	return lockKey(l.schema, "key\x00"+seal.KeyAAD(feed, subject))
}

// sealEvents checks the encryption of p's feeds against the Log's and
// seals the events of encrypted feeds that have a subject, within tx:
// it fills in p.aeads and p.sealed.
func (l *Log) sealEvents(ctx context.Context, tx pgx.Tx, p *pending) error {
	p.aeads = make([]cipher.AEAD, len(p.events))
	p.sealed = make([][]byte, len(p.events))
	modes, err := l.feedModes(ctx, p.events)
	if err != nil {
		return err
	}
	var pairs [][2]string // the subjects to seal for, once each
	seen := make(map[[2]string]bool)
	for i := range p.events {
		e := &p.events[i]
		enc := modes[e.Feed]
		if enc != l.encrypt && e.Type != eventfeed.TypeErased {
			if enc {
				return fmt.Errorf("postgres: append %s: feed %s is encrypted, and this Log does not encrypt: %w", e.ID, e.Feed, eventfeed.ErrEncryption)
			}
			return fmt.Errorf("postgres: append %s: feed %s is not encrypted, and this Log encrypts: %w", e.ID, e.Feed, eventfeed.ErrEncryption)
		}
		if enc && e.Subject != "" && e.Type != eventfeed.TypeErased {
			k := [2]string{e.Feed, e.Subject}
			if !seen[k] {
				seen[k] = true
				pairs = append(pairs, k)
			}
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	keys, err := l.subjectKeys(ctx, tx, pairs)
	if err != nil {
		return err
	}
	for i := range p.events {
		e := &p.events[i]
		k, ok := keys[[2]string{e.Feed, e.Subject}]
		if !ok || e.Type == eventfeed.TypeErased {
			continue
		}
		if k.erased {
			return fmt.Errorf("postgres: append %s: subject %q of feed %s: %w", e.ID, e.Subject, e.Feed, eventfeed.ErrErased)
		}
		p.aeads[i] = k.aead
		p.sealed[i] = seal.Seal(k.aead, e)
	}
	return nil
}

// feedModes returns whether each feed of events is encrypted, fixing it
// to the Log's option for a feed that has none yet.
func (l *Log) feedModes(ctx context.Context, events []eventfeed.Event) (map[string]bool, error) {
	modes := make(map[string]bool, 1)
	var unknown []string
	for i := range events {
		name := events[i].Feed
		if _, ok := modes[name]; ok || slices.Contains(unknown, name) {
			continue
		}
		if enc, ok := l.modes.Load(name); ok {
			modes[name] = enc.(bool)
		} else {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return modes, nil
	}
	// Insert, then read in a statement of its own, which sees the row of
	// a transaction the insert waited for; each statement commits on its
	// own, on a connection of the side pool: the caller may hold every
	// connection of the main one.
	b := &pgx.Batch{}
	b.Queue(l.q.insertModes, unknown, l.encrypt)
	b.Queue(l.q.modes, unknown).Query(func(rows pgx.Rows) error {
		var (
			name string
			enc  bool
		)
		_, err := pgx.ForEachRow(rows, []any{&name, &enc}, func() error {
			modes[name] = enc
			return nil
		})
		return err
	})
	if err := l.side.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("postgres: append: read the feeds' encryption: %w", err)
	}
	for _, name := range unknown {
		enc, ok := modes[name]
		if !ok {
			return nil, fmt.Errorf("postgres: append to feed %s: its encryption is not recorded", name)
		}
		l.modes.Store(name, enc)
	}
	return modes, nil
}

// subjectKey is a subject's key as an append reads it.
type subjectKey struct {
	aead   cipher.AEAD
	erased bool
}

// subjectKeys locks the subjects of pairs ([feed, subject]) for the
// transaction (shared: see the comment at the top) and returns their
// keys, making those that do not exist.
func (l *Log) subjectKeys(ctx context.Context, tx pgx.Tx, pairs [][2]string) (map[[2]string]subjectKey, error) {
	locks := make([]int64, len(pairs))
	for i, k := range pairs {
		locks[i] = l.subjectLock(k[0], k[1])
	}
	keys := make(map[[2]string]subjectKey, len(pairs))
	read := func(b *pgx.Batch, pairs [][2]string) {
		feeds, subjects := make([]string, len(pairs)), make([]string, len(pairs))
		for i, k := range pairs {
			feeds[i], subjects[i] = k[0], k[1]
		}
		b.Queue(l.q.keys, feeds, subjects).Query(func(rows pgx.Rows) error {
			var (
				k      [2]string
				stored []byte
				erased bool
			)
			_, err := pgx.ForEachRow(rows, []any{&k[0], &k[1], &stored, &erased}, func() error {
				if erased {
					keys[k] = subjectKey{erased: true}
					return nil
				}
				secret, err := seal.Unwrap(l.kek, stored, seal.KeyAAD(k[0], k[1]))
				if err != nil {
					return fmt.Errorf("key of %q in feed %s: %w", k[1], k[0], err)
				}
				aead, err := seal.NewAEAD(secret)
				keys[k] = subjectKey{aead: aead}
				return err
			})
			return err
		})
	}
	// The lock, then the read in a statement of its own, which sees an
	// erasure the lock waited for.
	b := &pgx.Batch{}
	b.Queue(l.q.lockShared, locks)
	read(b, pairs)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("postgres: append: read keys: %w", err)
	}
	var (
		missing               [][2]string
		feeds, subjects       []string
		secrets               [][]byte
		fresh                 = make(map[[2]string]cipher.AEAD)
		insertedKeys, notMine = make(map[[2]string]bool), [][2]string(nil)
	)
	for _, k := range pairs {
		if _, ok := keys[k]; ok {
			continue
		}
		secret := seal.NewKey()
		aead, err := seal.NewAEAD(secret)
		if err != nil {
			return nil, err
		}
		missing = append(missing, k)
		fresh[k] = aead
		feeds, subjects = append(feeds, k[0]), append(subjects, k[1])
		secrets = append(secrets, seal.Wrap(l.kek, secret, seal.KeyAAD(k[0], k[1])))
	}
	if len(missing) == 0 {
		return keys, nil
	}
	rows, _ := tx.Query(ctx, l.q.insertKeys, feeds, subjects, secrets)
	var k [2]string
	if _, err := pgx.ForEachRow(rows, []any{&k[0], &k[1]}, func() error {
		insertedKeys[k] = true
		keys[k] = subjectKey{aead: fresh[k]}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: append: store keys: %w", err)
	}
	for _, k := range missing {
		if !insertedKeys[k] {
			notMine = append(notMine, k) // made by a transaction that committed meanwhile
		}
	}
	if len(notMine) > 0 {
		b := &pgx.Batch{}
		read(b, notMine)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, fmt.Errorf("postgres: append: read keys: %w", err)
		}
		for _, k := range notMine {
			if _, ok := keys[k]; !ok {
				return nil, fmt.Errorf("postgres: append: the key of %q in feed %s was made by a transaction this one cannot see; retry", k[1], k[0])
			}
		}
	}
	return keys, nil
}

// feedEncrypted returns whether the feed f is encrypted, for a head
// learned from the sequencer or a notification: from memory once known,
// else from the encryption table (once per feed and instance).
func (l *Log) feedEncrypted(f store.Feed) bool {
	if enc, ok := l.modes.Load(f.Name); ok {
		return enc.(bool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var enc bool
	if err := l.side.QueryRow(ctx, l.q.mode, f.Name).Scan(&enc); err != nil {
		// The resync, every few seconds, corrects it.
		l.log.Warn("cannot read whether a feed is encrypted", "feed", f.Name, "err", err)
		if old, ok := l.heads.Get(f.Name); ok {
			return old.Encrypted
		}
		return false
	}
	l.modes.Store(f.Name, enc)
	return enc
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
		erased bool
	)
	err := l.pool.QueryRow(ctx, l.q.key, feed, subject).Scan(&stored, &erased)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Key{}, fmt.Errorf("postgres: key of %q in feed %s: %w", subject, feed, store.ErrKeyNotFound)
	case err != nil:
		return store.Key{}, fmt.Errorf("postgres: key of %q in feed %s: %w", subject, feed, err)
	case erased:
		return store.Key{}, fmt.Errorf("postgres: key of %q in feed %s: %w", subject, feed, eventfeed.ErrErased)
	}
	secret, err := seal.Unwrap(l.kek, stored, seal.KeyAAD(feed, subject))
	if err != nil {
		return store.Key{}, fmt.Errorf("postgres: key of %q in feed %s: %w", subject, feed, err)
	}
	return store.Key{Feed: feed, Subject: subject, Secret: secret}, nil
}

// Erase destroys the data key of subject in feed and appends its
// tombstone, as store.Keyring.Erase describes, and waits until the
// tombstone is sequenced, to return it with its Seq. Any Log on the schema
// may erase, whether it encrypts or not.
//
// After the commit it vacuums the key table, so that the old version of
// the key's row is removed; if that fails (the role does not own the
// table, say), the erasure stands and the failure is logged. See the
// package documentation for what PostgreSQL keeps of the key until then.
func (l *Log) Erase(ctx context.Context, feed, subject string) (eventfeed.Event, error) {
	if err := ctx.Err(); err != nil {
		return eventfeed.Event{}, err
	}
	if l.closed.Load() {
		return eventfeed.Event{}, eventfeed.ErrClosed
	}
	tomb := []eventfeed.Event{seal.Tombstone(feed, subject)}
	p, err := prepare(tomb)
	if err != nil {
		return eventfeed.Event{}, fmt.Errorf("postgres: erase %q from feed %s: %w", subject, feed, err)
	}
	erased := false
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, l.q.lockExclusive, l.subjectLock(feed, subject)); err != nil {
			return err
		}
		var (
			exists, enc bool
		)
		if err := tx.QueryRow(ctx, l.q.feedExists, feed).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("postgres: erase %q: %w", feed, eventfeed.ErrFeedNotFound)
		}
		switch err := tx.QueryRow(ctx, l.q.mode, feed).Scan(&enc); {
		case errors.Is(err, pgx.ErrNoRows):
			// A feed of a log older than encryption, sequenced meanwhile.
			return fmt.Errorf("postgres: erase %q from feed %s: the feed is not encrypted: %w", subject, feed, eventfeed.ErrEncryption)
		case err != nil:
			return err
		case !enc:
			return fmt.Errorf("postgres: erase %q from feed %s: the feed is not encrypted: %w", subject, feed, eventfeed.ErrEncryption)
		}
		var (
			stored []byte
			done   bool
		)
		switch err := tx.QueryRow(ctx, l.q.key, feed, subject).Scan(&stored, &done); {
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("postgres: erase %q from feed %s: %w", subject, feed, store.ErrKeyNotFound)
		case err != nil:
			return err
		case done:
			return nil // erased before: find its tombstone
		}
		if _, err := tx.Exec(ctx, l.q.eraseKey, feed, subject); err != nil {
			return err
		}
		erased = true
		return l.appendTx(ctx, tx, p)
	})
	if err != nil {
		if errors.Is(err, eventfeed.ErrFeedNotFound) || errors.Is(err, eventfeed.ErrEncryption) || errors.Is(err, store.ErrKeyNotFound) || ctx.Err() != nil {
			return eventfeed.Event{}, err
		}
		return eventfeed.Event{}, fmt.Errorf("postgres: erase %q from feed %s: %w", subject, feed, err)
	}
	if erased {
		if _, err := l.pool.Exec(ctx, l.q.vacuumKeys); err != nil {
			l.log.Warn("erased a key, but cannot vacuum the key table: its old row version stays until autovacuum removes it", "feed", feed, "err", err)
		}
	}
	out, err := l.sequenced(ctx, tomb, p)
	if err != nil {
		return eventfeed.Event{}, err
	}
	return out[0], nil
}
