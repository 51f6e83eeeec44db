// Package sqlite keeps a store.Log or a store.Replica in an SQLite file:
// the embedded default, in pure Go (modernc.org/sqlite, no cgo).
//
// # The log
//
// [Open] opens or creates the file and returns a [Log]. Events are stored
// one row each, clustered by feed and seq, so that reading a page of a
// feed reads neighbouring rows; a unique index on the event ID makes
// appends idempotent across the whole log. Each Append is one transaction.
//
// Feed, Feeds and Wait answer from memory. The Log updates its heads after
// its own appends, and a background watcher picks up commits made by
// other connections or processes on the same file (another Log, the
// eventfeed command, AppendTx): it reads SQLite's data_version, which
// changes only when another connection has committed, and reloads the
// heads only then. It reads it every Options.PollInterval while a Wait is
// under way; with none, only when Feed or Feeds finds the last read older
// than PollInterval, so that an idle Log costs nothing and its answers
// still include every commit made PollInterval ago or earlier. Close
// stops the watcher.
//
// # The transactional outbox
//
// [Log.AppendTx] appends within the caller's own transaction, begun on
// [Log.DB], so that a service's rows and the events announcing them commit
// together or not at all. Seqs are assigned in commit order: SQLite runs
// one write transaction at a time, and transactions on DB take the write
// lock when they begin. After committing, [Log.Notify] wakes long polls at
// once instead of at the next poll.
//
// # The replica
//
// [OpenReplica] returns a [Replica], which a poller applies batches of
// events to. Each batch runs the [Projection] for every event and stores
// the source's checkpoint in one transaction: after a crash at any point
// every event has been applied exactly once. A Projection writes to tables
// of its own, created through [Replica.DB] in the same file. Without one,
// the replica keeps the latest event of each (feed, subject) as a
// document, read with [Replica.Get]; a Projection can keep those documents
// too by calling [Latest]. Events a consumer cannot apply can be parked
// with Park and listed with [Replica.DeadLetters].
//
// # Encrypted feeds and erasure
//
// A Log opened with Options.Encrypt creates encrypted feeds (see
// store.Keyring): an event with a subject is sealed under its subject's
// key, kept in the eventfeed_keys table (wrapped under Options.KEK when
// given) and made in the append's own transaction, AppendTx included;
// events without a subject stay in the clear. [Log.Erase] destroys the
// key and appends the tombstone in one transaction. A sealed event's row
// keeps the nonce, ciphertext and tag of its JWE; Read rebuilds the JWE
// from them and the row's media type, subject and ID. A Log keeps the keys
// its Appends used (up to 4096) in memory, but every Erase is counted in
// the file, in its transaction, and every Append reads that count in its
// own: an erasure made through another Log or process holds at once, and
// the Log drops its kept keys as soon as it notices one. The file runs with
// secure_delete, so the erased key's bytes are zeroed in its page, and
// Erase truncates the WAL after its commit, so no earlier copy of the page
// stays there ([ErrWALBusy] when readers prevent it: erase again). Copies
// of the file taken before the erasure (backups) still hold the key,
// wrapped when a KEK is used.
//
// # Durability and concurrency
//
// The file is in WAL mode with synchronous=NORMAL: readers never block
// the writer nor each other, no crash corrupts the file, and a crash of
// the process loses no commit; a power loss or OS crash may roll back the
// last commits. Options.FullSync trades an fsync per commit for
// durability against those too. Writers wait for each other up to
// Options.BusyTimeout.
//
// # Schema
//
// The tables are prefixed eventfeed_ so that they can share a file with
// the caller's own. Their version is kept in eventfeed_schema; Open
// creates or migrates them, and refuses with [ErrIncompatible] a file that
// is not an SQLite database or whose tables a newer version of this
// package made.
package sqlite
