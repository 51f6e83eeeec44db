// Package postgres keeps a store.Log and a store.Replica in PostgreSQL (13
// or newer), for services that run on more than one machine: any number of
// publisher instances share one log, and any number of consumer instances
// share one replica while one at a time follows each source.
//
// Each store keeps its tables in a schema of its own (Options.Schema,
// "eventfeed" by default), creates them when it is opened and migrates
// them when this package is upgraded; the versions are kept in the
// schema's schema_version table, and a schema migrated by a newer version
// of the package is refused with ErrSchemaTooNew. Instances opening at the
// same time migrate one after the other.
//
// # Outbox and sequencer
//
// A service appends events in its own business transaction with
// [Log.AppendTx]: the events are inserted into an outbox table, and that is
// all. No row is updated and no lock is taken that other writers wait for
// (but a writer of the same event ID, which waits to learn whether this
// one commits), so however long the caller's transaction runs it holds up
// nobody; if it rolls back, its events never existed. [Log.Append] is
// AppendTx in a transaction of its own, followed by a wait until the
// events are in the log, so that it can return their seqs.
//
// One instance at a time is the sequencer: the one that holds a session
// advisory lock, on a connection of its own. It moves the committed
// outbox rows into the log in one transaction per round: it gives each
// event the next seq of its feed, inserts it, moves the feed's head,
// deletes the outbox rows and notifies (NOTIFY) every instance of the new
// heads; the same round trip looks at the outbox again, so that while
// events keep coming, rounds follow each other at once. When the outbox is
// empty it looks again after a millisecond, then backs off to
// Options.PollInterval (10ms by default): one cheap indexed query each
// time, on the sequencer alone.
//
// The sequencer is not woken by a NOTIFY in the business transactions.
// PostgreSQL serialises the commits of all transactions that notify, on
// the whole server, each holding a lock until its commit record is
// flushed: with 16 concurrent writers that cut commits per second by a
// factor of three to four here (pgbench, a one-row insert: 5,800 against
// 1,700 transactions per second). Options.WakeOnCommit turns it on for
// services that write little and prefer a long PollInterval.
//
// # Ordering
//
// Seqs are gapless and assigned only to committed events, by the sequencer,
// in the transaction that makes them visible; a reader therefore never sees
// seq n+1 before seq n, and nothing ever appears below a seq it has seen.
// The out-of-order-commit trap (a position handed out before commit, a
// transaction holding position n+1 committing before the one holding n, a
// reader passing n for good) cannot happen: outbox positions are never
// shown to readers, and a transaction that commits late is simply
// sequenced later.
//
// Events are sequenced in commit order, as far as one round of the
// sequencer can tell: every event committed before a round began gets a
// lower seq than every event committed after. Within one round,
// transactions are ordered by transaction id (the order in which they
// began to write, not always the order in which they committed). A round
// takes whole transactions: the events of one transaction are sequenced
// together, in the order they were appended, so a reader sees all of an
// AppendTx or none of it (a round then holds more than its usual 1,000
// rows when a transaction does).
// The comment at the top of sequencer.go gives the argument in full, and
// says why the sequencer does not wait for older transactions to finish
// (the usual "xmin horizon" fix for the trap, which one long transaction
// anywhere in the database would stall). It uses that horizon only to
// know where to start reading the outbox, so that the index entries of
// moved rows, which vacuum may not remove for a while, are not read again
// on every look.
//
// Appends are idempotent by event ID across the outbox and the log: a
// unique index on the outbox makes a second transaction inserting the same
// ID wait for the first, and AppendTx then compares the two. One corner
// remains: a transaction at REPEATABLE READ or SERIALIZABLE cannot see an
// event sequenced after it began, so it can insert a copy of that event
// into the outbox. The sequencer drops such a copy when its content is the
// same; when it differs it writes it to the schema's rejected table (with
// the reason) instead of the log, and logs a warning.
//
// # Rows the log refuses
//
// A round that fails on a statement (a row the log refuses: a trigger or
// constraint added to the events table, a value PostgreSQL cannot store;
// not a full disk, a shutdown or a deadlock, which stall the sequencer
// until they pass) is rolled back, and the next rounds take fewer transactions, down to one,
// while the rest of the outbox flows on. When the rows of one transaction
// alone have failed three rounds, the sequencer moves them to the rejected
// table with the error and logs it; an Append waiting for them returns an
// error wrapping ErrRejected (within about half a second). Log.Stats counts
// the rounds committed and failed, the rows rejected and the rereads of
// the heads (every five seconds, notifications or not, in case one was
// lost).
//
// # Several instances
//
// Every instance of a Log competes to be the sequencer; the others try
// again every second, so when the sequencer's process dies, or its
// connection drops, another takes over within about a second (within half
// a minute when its machine vanishes without closing the connection: the
// server notices through TCP keepalives). A sequencing transaction runs on
// the connection that holds the lock, so it dies with it: two instances
// never sequence at once. [Log.Close] releases the lock at once, for
// another instance to take within a second. An instance opened with
// Options.NoSequencer never competes: it appends, reads and waits while
// the others sequence.
//
// Each instance answers [Log.Feed], [Log.Feeds] and [Log.Wait] from
// memory: a listener connection receives the heads every sequencing
// notifies, reconnects when it fails, and the heads are read again after
// a reconnection and every few seconds in case a notification was lost.
// An instance may thus trail another by the time a notification takes.
//
// The Log's two connections of its own use LISTEN and a session advisory
// lock: they must reach PostgreSQL directly or through a pooler in session
// mode, not in transaction mode. The pool's size is set in the DSN
// (pool_max_conns); give it about as many connections as concurrent
// appenders.
//
// # Encrypted feeds and erasure
//
// A Log opened with Options.Encrypt creates encrypted feeds (see
// store.Keyring): an event with a subject is sealed in the append's own
// transaction, AppendTx included, under its subject's key, kept in the
// schema's keys table (wrapped under Options.KEK when given); events
// without a subject stay in the clear. [Log.Erase] sets the key's secret
// to NULL, keeps the row marked erased so that later appends for the
// subject fail with eventfeed.ErrErased, and appends the tombstone, in one
// transaction; appends and Erase of one subject are serialised by an
// advisory lock. A feed's encryption is recorded, committed at once, by
// the first append to it, even if that append's transaction then rolls
// back. Two open transactions that append the first events of one
// subject meet on its new key's row: the second waits for the first to
// end, as for one event ID. Afterwards Erase runs VACUUM on the keys table (the role
// must own it; otherwise autovacuum does it later).
//
// What PostgreSQL keeps of an erased key, which SQL no longer reads:
// until VACUUM, the old version of its row (and a transaction whose
// snapshot predates the erasure can still read it); after VACUUM, its
// bytes in the free space of the table's page until the page is reused
// (PostgreSQL does not zero freed space; VACUUM FULL rewrites the table);
// and the write-ahead log records of the key's insertion, until the server
// recycles their segments, and wherever WAL is archived or streamed to
// (replicas, backups). With a KEK, all of these hold the key wrapped, and
// are useless without the KEK. The events themselves only ever hold
// ciphertext.
//
// # Replica and failover
//
// [Replica] applies a consumer's events with a [Projection] that runs in
// the same transaction as the checkpoint, so that after a crash at any
// point every event has been applied exactly once. [Latest] is a ready
// projection that keeps the newest event per (feed, subject) for
// [Replica.Get]; parked events are listed by [Replica.DeadLetters].
//
// Several instances of a consuming service share its replica, and one at
// a time must follow a given source. [Replica.Lock] elects it: it waits
// for a session advisory lock named after the source, on a connection of
// its own, then takes a fencing token, a number that grows with every new
// holder. The lock passes on as soon as the holder releases it or its
// session ends; the token is what makes that safe. Apply and Park read the
// source's current token in their own transaction, with a row lock, and
// refuse with ErrLeaseLost unless this Replica holds that very token (once
// a lease was ever taken on a source, a Replica without one is refused
// too). A new holder's token update waits for every transaction that read
// the old token, so a holder whose connection dropped either committed
// before its successor read the checkpoint, or cannot commit at all, even
// if it has not noticed its loss yet.
//
// Run the poller under the lease, and start over when it ends:
//
//	for ctx.Err() == nil {
//		lease, err := replica.Lock(ctx, source)
//		if err != nil {
//			time.Sleep(time.Second) // the database is unreachable, or ctx ended
//			continue
//		}
//		pctx, cancel := context.WithCancel(ctx)
//		go func() { <-lease.Done(); cancel() }()
//		p, err := poller.New(source, replica, cfg) // resumes from the checkpoint
//		if err == nil {
//			err = p.Run(pctx)
//		}
//		cancel()
//		lease.Release()
//	}
package postgres
