package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the PostgreSQL schema the stores keep their tables in
// when their options name none.
const DefaultSchema = "eventfeed"

// maxSchemaLen keeps a schema name short enough that the notification
// channels named after it ("<schema>.outbox") fit PostgreSQL's 63-byte
// identifiers.
const maxSchemaLen = 48

// ErrSchemaTooNew reports tables migrated by a newer version of this package
// than the one running: it does not know their shape, so it refuses to use
// them rather than guess.
var ErrSchemaTooNew = errors.New("postgres: schema was migrated by a newer version of this package")

// ErrInvalidSchema reports an Options.Schema that is not a plain lower-case
// identifier.
var ErrInvalidSchema = errors.New("postgres: invalid schema name")

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// checkSchema returns the schema to use for name: DefaultSchema when it is
// empty, else name itself when it is a plain lower-case identifier.
func checkSchema(name string) (string, error) {
	if name == "" {
		return DefaultSchema, nil
	}
	if len(name) > maxSchemaLen || !schemaName.MatchString(name) || strings.HasPrefix(name, "pg_") {
		return "", fmt.Errorf("%w: %q (want 1 to %d characters of [a-z0-9_], not starting with a digit or pg_)", ErrInvalidSchema, name, maxSchemaLen)
	}
	return name, nil
}

// lockKey returns the key of the session or transaction advisory lock
// called name in schema. Advisory locks are per database; the schema in the
// key keeps stores in different schemas of one database apart, and the
// prefix keeps them apart from other applications' locks.
func lockKey(schema, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("eventfeed\x00" + schema + "\x00" + name))
	return int64(h.Sum64())
}

// A migration is the SQL that takes a component's tables from one version
// to the next. %[1]s stands for the quoted schema name.
type migration string

// Components whose versions are kept in schema_version. The Log and the
// Replica may share a schema; each migrates its own tables.
const (
	componentLog     = "log"
	componentReplica = "replica"
)

// migrate brings component's tables in schema to the newest version it
// knows, creating the schema when needed. Concurrent migrators (several
// instances starting at once) are serialised by a transaction advisory
// lock taken before anything else, so that the IF NOT EXISTS clauses never
// race. A version newer than len(steps) is ErrSchemaTooNew.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema, component string, steps []migration) error {
	q := pgx.Identifier{schema}.Sanitize()
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(schema, "migrate")); err != nil {
			return fmt.Errorf("postgres: lock schema %s for migration: %w", schema, err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[1]s.schema_version (
	component text PRIMARY KEY,
	version integer NOT NULL,
	migrated timestamptz NOT NULL DEFAULT now()
)`, q)); err != nil {
			return fmt.Errorf("postgres: create schema %s: %w", schema, err)
		}
		var version int
		err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT version FROM %s.schema_version WHERE component = $1`, q), component).Scan(&version)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: read schema version of %s: %w", schema, err)
		}
		if version > len(steps) {
			return fmt.Errorf("%w: %s tables of schema %s are at version %d, this package knows up to %d", ErrSchemaTooNew, component, schema, version, len(steps))
		}
		if version == len(steps) {
			return nil
		}
		for v := version; v < len(steps); v++ {
			if _, err := tx.Exec(ctx, fmt.Sprintf(string(steps[v]), q)); err != nil {
				return fmt.Errorf("postgres: migrate %s tables of schema %s to version %d: %w", component, schema, v+1, err)
			}
		}
		_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.schema_version (component, version) VALUES ($1, $2)
ON CONFLICT (component) DO UPDATE SET version = excluded.version, migrated = now()`, q), component, len(steps))
		if err != nil {
			return fmt.Errorf("postgres: record schema version of %s: %w", schema, err)
		}
		return nil
	})
}

// logSchema holds the Log's migrations, oldest first; never edit one that
// was released, append a new one.
//
// The outbox is keyed by event ID (which makes a second transaction
// appending the same ID wait for the first) and read in (tx, pos) order;
// pos, the order of appends, has no index of its own, to spare every
// business transaction an index insert.
//
// Times are kept as timestamptz (microseconds) plus the nanoseconds below
// the microsecond in time_ns, so that an event reads back with the Time it
// was stored with and an idempotent retry compares equal.
var logSchema = []migration{
	`CREATE TABLE %[1]s.feeds (
	name text PRIMARY KEY,
	epoch text NOT NULL,
	page_size integer NOT NULL,
	head bigint NOT NULL
);
CREATE TABLE %[1]s.events (
	feed text NOT NULL,
	seq bigint NOT NULL,
	id text NOT NULL UNIQUE,
	type text NOT NULL,
	subject text NOT NULL,
	time timestamptz NOT NULL,
	time_ns smallint NOT NULL,
	content_type text NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (feed, seq)
);
CREATE TABLE %[1]s.outbox (
	id text PRIMARY KEY,
	tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
	pos bigint GENERATED ALWAYS AS IDENTITY,
	feed text NOT NULL,
	type text NOT NULL,
	subject text NOT NULL,
	time timestamptz NOT NULL,
	time_ns smallint NOT NULL,
	time_given boolean NOT NULL,
	content_type text NOT NULL,
	data bytea NOT NULL,
	page_size integer NOT NULL
);
CREATE INDEX outbox_order ON %[1]s.outbox (tx, pos);
CREATE TABLE %[1]s.rejected (
	id text NOT NULL,
	feed text NOT NULL,
	type text NOT NULL,
	subject text NOT NULL,
	time timestamptz NOT NULL,
	time_ns smallint NOT NULL,
	content_type text NOT NULL,
	data bytea NOT NULL,
	reason text NOT NULL,
	rejected timestamptz NOT NULL DEFAULT now()
);`,
	// Version 2: encrypted feeds (see keys.go). A feed's encryption is
	// fixed by its first append, before the sequencer makes its row in
	// feeds; the feeds of an older log are not encrypted.
	`CREATE TABLE %[1]s.encryption (
	feed text PRIMARY KEY,
	encrypted boolean NOT NULL
);
INSERT INTO %[1]s.encryption (feed, encrypted)
SELECT name, false FROM %[1]s.feeds UNION SELECT feed, false FROM %[1]s.outbox
ON CONFLICT DO NOTHING;
CREATE TABLE %[1]s.keys (
	feed text NOT NULL,
	subject text NOT NULL,
	secret bytea,
	erased boolean NOT NULL DEFAULT false,
	PRIMARY KEY (feed, subject)
);`,
}

// replicaSchema holds the Replica's migrations, oldest first.
var replicaSchema = []migration{
	`CREATE TABLE %[1]s.checkpoints (
	source text PRIMARY KEY,
	page text NOT NULL,
	last_id text NOT NULL,
	seq bigint NOT NULL,
	epoch text NOT NULL,
	updated timestamptz NOT NULL
);
CREATE TABLE %[1]s.latest (
	feed text NOT NULL,
	subject text NOT NULL,
	seq bigint NOT NULL,
	id text NOT NULL,
	type text NOT NULL,
	time timestamptz NOT NULL,
	time_ns smallint NOT NULL,
	content_type text NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (feed, subject)
);
CREATE TABLE %[1]s.dead_letters (
	n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	source text NOT NULL,
	feed text NOT NULL,
	seq bigint NOT NULL,
	id text NOT NULL,
	type text NOT NULL,
	subject text NOT NULL,
	time timestamptz NOT NULL,
	time_ns smallint NOT NULL,
	content_type text NOT NULL,
	data bytea NOT NULL,
	reason text NOT NULL,
	parked timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_source ON %[1]s.dead_letters (source, n);
CREATE TABLE %[1]s.leases (
	source text PRIMARY KEY,
	token bigint NOT NULL,
	holder text NOT NULL,
	acquired timestamptz NOT NULL
);`,
	// Version 2: what a consumer learned of a feed without seqs (the order
	// of its entries, the IDs applied last) and the version that fences
	// Apply and Park.
	`ALTER TABLE %[1]s.checkpoints
	ADD COLUMN entry_order smallint NOT NULL DEFAULT 0,
	ADD COLUMN recent text[] NOT NULL DEFAULT '{}',
	ADD COLUMN version bigint NOT NULL DEFAULT 0;`,
}
