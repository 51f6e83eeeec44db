package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The sequencer moves committed outbox rows into the log. Why its order is
// safe, in full:
//
// The out-of-order-commit trap hits designs where a row's position is
// handed out before its transaction commits (a sequence, an identity) and a
// reader moves a cursor past positions: if the transaction holding n+1
// commits before the one holding n, the reader passes n and never sees it.
// Here no reader ever sees an outbox position. A seq is assigned by the
// sequencer, to rows that are already committed, in the same transaction
// that inserts them into the log at head+1, head+2, … and moves the head;
// and the sequencer takes rows out of the outbox by deleting them, not by
// moving a cursor. So:
//
//  1. Gapless: a feed's seqs are written only by the sequencer, each
//     round writing head+1…head+k and head := head+k in one transaction,
//     and (feed, seq) is the key of the log.
//  2. No skip: a reader sees a sequencing transaction all at once or not at
//     all (it commits atomically), and each one only appends above the
//     head the previous one left. A reader that saw seq n has seen 1…n,
//     and no event can later appear at or below n.
//  3. Nothing lost: a row that commits late (outbox position 10 after 11)
//     is still in the outbox at the next round, which takes every row
//     committed so far, and gets the next seq then. A rolled-back row was
//     never visible to the sequencer.
//  4. Commit order: a round reads the outbox through one snapshot, which
//     holds exactly the transactions committed before it was taken.
//     Every event committed before round r's snapshot gets a lower seq
//     than every event committed after it. Within one round, events are
//     ordered by the id of the transaction that wrote them (the tx
//     column, from pg_current_xact_id()), then by outbox position: the
//     events of one transaction stay together and in the order they were
//     appended. A round takes whole transactions (the claim extends its
//     LIMIT to the end of the last transaction it reached, and cuts by
//     size only between transactions), so no reader sees part of one.
//  5. One sequencer: the rounds run on the connection that holds the
//     session advisory lock. If that session ends, its open transaction
//     ends with it, uncommitted, before the lock can pass to another
//     instance. The log's keys, on (feed, seq) and on id, are a second
//     line of defence: a second sequencer's round would fail on them.
//
// Restricting a round to rows below pg_snapshot_xmin(pg_current_snapshot())
// (the "xmin horizon") is the usual fix when positions are exposed to
// readers. It is not needed here (point 2 holds without it), and it would
// cost twice: one long transaction anywhere in the cluster would hold back
// the whole log, and an event committed early behind such a transaction
// would be sequenced with or after events committed later, which is
// further from commit order than point 4.

// sequence competes to be the sequencer until ctx is done: it tries the
// lock every takeoverInterval, and when it holds it, runs rounds until its
// connection fails.
func (l *Log) sequence(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	key := lockKey(l.schema, "sequencer")
	backoff := minBackoff
	for ctx.Err() == nil {
		if conn == nil {
			c, err := connect(ctx, l.connCfg)
			if err != nil {
				if ctx.Err() == nil {
					l.log.Warn("sequencer cannot connect", "err", err, "retry", backoff)
				}
				sleep(ctx, backoff)
				backoff = min(2*backoff, maxBackoff)
				continue
			}
			conn, backoff = c, minBackoff
		}
		var held bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&held); err != nil {
			if ctx.Err() == nil {
				l.log.Warn("sequencer lock attempt failed", "err", err)
			}
			conn.Close(context.Background())
			conn = nil
			continue
		}
		if !held {
			sleep(ctx, takeoverInterval)
			continue
		}
		l.log.Debug("sequencing")
		err := l.lead(ctx, conn)
		// Closing the connection releases the lock, whatever state the
		// session is in.
		conn.Close(context.Background())
		conn = nil
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("stopped sequencing", "err", err)
		sleep(ctx, backoff)
	}
}

// lead sequences on conn, which holds the sequencer lock, until a round
// fails or ctx is done. A round moves what the previous one found and, in
// the same round trip, looks at the outbox again; so while events keep
// coming, rounds follow each other without a pause, each moving what
// committed during the previous one. When a look finds nothing, lead waits
// busyPoll, then twice as long after each empty look, up to the poll
// interval. A wake-up (an Append of this instance, a notification with
// WakeOnCommit) makes it look at once.
//
// A round that fails on a statement because of its rows (a row the log
// refuses: a trigger, a constraint, a value PostgreSQL cannot store; see
// rowFault) is rolled back, and the
// next looks take half as many transactions, down to one, so that the
// others flow on; when the rows of one transaction alone have failed
// maxRoundFailures rounds, they are moved to the rejected table with the
// error, and whoever waits for them in Append gets ErrRejected. The count
// is this instance's: another that takes over counts afresh.
func (l *Log) lead(ctx context.Context, conn *pgx.Conn) error {
	// Leadership changes are logged at INFO: after a takeover, each
	// instance's log says which one sequences.
	l.leading.Store(true)
	l.leaderChanges.Add(1)
	l.log.Info("postgres: this instance is now the sequencer")
	defer func() {
		l.leading.Store(false)
		l.leaderChanges.Add(1)
		l.log.Info("postgres: this instance is no longer the sequencer")
	}()
	wait := min(busyPoll, l.poll)
	timer := time.NewTimer(0)
	defer timer.Stop()
	q := newSeqSQL(l.schema)
	var (
		batch []claimed
		from  uint64 // where the outbox is read from: see claimed.next
		// where batch was read from: a round that finds an ID already in
		// the log reads its rows again from there, in full.
		batchFrom uint64
		limit     = batchSize
		// full makes the next look read the rows in full, with the
		// events already in the log under their IDs.
		full bool
		// The transaction whose rows failed the last rounds alone, and
		// how many.
		suspect string
		fails   int
	)
	for {
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.kick:
				wait = min(busyPoll, l.poll)
			case <-timer.C:
			}
			var err error
			batchFrom = from
			if batch, from, err = l.claim(ctx, conn, q, from, limit, full); err != nil {
				return err
			}
			if len(batch) == 0 {
				timer.Reset(wait)
				wait = min(2*wait, l.poll)
				continue
			}
		}
		round, roundFrom := batch, batchFrom
		batchFrom = from
		var err error
		if batch, from, err = l.move(ctx, conn, q, round, from, limit); err != nil {
			if ctx.Err() != nil {
				return err
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || conn.IsClosed() {
				l.stats.roundsFailed.Add(1)
				return err
			}
			if repeatedID(pgErr) && !round[0].full {
				// An event whose ID is in the log already: rare (see
				// AppendTx). Not a failure: the same rows are read again
				// in full, and the round that moves them drops or rejects
				// the copy.
				if _, rerr := conn.Exec(ctx, `ROLLBACK`); rerr != nil {
					return fmt.Errorf("%w; then rollback: %v", err, rerr)
				}
				l.log.Debug("sequencing round found an ID already in the log; reading its rows in full", "rows", len(round))
				batch, from, full = nil, roundFrom, true
				timer.Reset(0)
				continue
			}
			l.stats.roundsFailed.Add(1)
			if !rowFault(pgErr) {
				return err
			}
			if _, rerr := conn.Exec(ctx, `ROLLBACK`); rerr != nil {
				return fmt.Errorf("%w; then rollback: %v", err, rerr)
			}
			// The next looks read in full: a failure may come from a
			// repeated ID among other faults.
			full = true
			txs := roundTxs(round)
			if len(txs) > 1 {
				limit = 0
				for _, c := range round {
					if c.tx == txs[len(txs)/2] {
						break
					}
					limit++
				}
				l.log.Warn("sequencing round failed; trying fewer transactions", "transactions", len(txs), "rows", len(round), "next", limit, "err", err)
			} else {
				limit = 1
				if suspect == txs[0] {
					fails++
				} else {
					suspect, fails = txs[0], 1
				}
				l.log.Warn("sequencing round of one transaction failed", "tx", suspect, "rows", len(round), "failures", fails, "err", err)
				if fails >= maxRoundFailures {
					if err := l.reject(ctx, conn, suspect, round, err); err != nil {
						return err
					}
					suspect, fails = "", 0
				}
			}
			batch, from = nil, roundFrom
			timer.Reset(0)
			continue
		}
		full = false
		limit = min(2*limit, batchSize)
		wait = min(busyPoll, l.poll)
		timer.Reset(wait)
	}
}

// repeatedID tells whether err is the log's unique key on event IDs
// refusing a row: an event already in the log under that ID.
func repeatedID(err *pgconn.PgError) bool {
	return err.Code == "23505" && err.TableName == "events" && err.ConstraintName == "events_id_key"
}

// rowFault tells whether err, which failed a round, may be due to the
// rows the round held (a constraint, a trigger, a value), rather than to
// the server's state (out of disk or memory, shutting down, a deadlock, a
// lock not available, an internal error): only those count towards
// rejecting rows. A full disk must stall the log, not empty the outbox
// into the rejected table.
func rowFault(err *pgconn.PgError) bool {
	if len(err.Code) < 2 {
		return false
	}
	switch err.Code[:2] {
	case "08", "40", "53", "55", "57", "58", "XX":
		return false
	}
	return true
}

// roundTxs returns the transactions of batch, in order.
func roundTxs(batch []claimed) []string {
	var txs []string
	for _, c := range batch {
		if len(txs) == 0 || txs[len(txs)-1] != c.tx {
			txs = append(txs, c.tx)
		}
	}
	return txs
}

// reject moves the outbox rows of transaction tx, which round holds, to the
// rejected table with the error of their last round.
func (l *Log) reject(ctx context.Context, conn *pgx.Conn, tx string, round []claimed, cause error) error {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	reason := fmt.Sprintf("sequencing failed %d rounds: %v", maxRoundFailures, cause)
	tag, err := conn.Exec(ctx, l.q.rejectTx, tx, reason)
	if err != nil {
		return fmt.Errorf("reject outbox rows of transaction %s: %w", tx, err)
	}
	ids := make([]string, len(round))
	for i, c := range round {
		ids[i] = c.ev.ID
	}
	l.stats.rowsRejected.Add(uint64(tag.RowsAffected()))
	l.log.Error("rejected events the log would not take", "tx", tx, "ids", ids, "err", cause)
	// Appends waiting for them look again.
	l.progress.Broadcast()
	return nil
}

// The outbox is read from a transaction id on, not from its start.
// Committed rows are deleted as they are moved, but their index entries
// stay until vacuum, and while any transaction in the cluster is older
// than them (a long report, say) vacuum cannot remove them: a queue table
// read from its start would have the sequencer wade through all of them
// on every look. Reading from the oldest transaction still running when
// the previous look began is enough: a row that look did not see was
// written by a transaction running then or started later, whose id is
// that high or higher, and a look that did not fill its batch saw every
// committed row below. The horizon is read in a statement before the
// claim, so it can only be older than the claim's own: safe.

// horizonSQL returns the oldest transaction id still running.
const horizonSQL = `SELECT pg_snapshot_xmin(pg_current_snapshot())`

// claimed is one outbox row read by a round.
//
// A look reads only what the sequencer needs to give the rows their seqs
// (feed, ID, time, the size of Data): the round then copies the rows from
// the outbox into the log inside the server. If a row's ID is in the log
// already, the log's unique key on IDs fails that round, and the next look
// reads the same rows in full (full), with the event stored under each ID,
// for a round that drops or rejects the copies from this process.
type claimed struct {
	ev        eventfeed.Event // without Type, Subject, ContentType, Data unless full
	size      int             // the length of Data
	tid       string          // the row's ctid, unless full
	full      bool            // read in full, with stored
	timeGiven bool            // ev.Time was given, not filled in by AppendTx
	pageSize  int
	stored    *eventfeed.Event // the event already in the log with this ID
	feed      *store.Feed      // the feed's state before the round; nil when new
	tx        string           // the id of the transaction that wrote it
}

// seqSQL holds the sequencer's statements of the round that copies rows
// inside the server, with the schema filled in.
type seqSQL struct{ claim, moveEvents, deleteMoved string }

func newSeqSQL(schema string) seqSQL {
	s := pgx.Identifier{schema}.Sanitize()
	f := func(q string) string { return fmt.Sprintf(q, s) }
	return seqSQL{
		// The claim of logSQL without the events already in the log and
		// without the columns the round copies inside the server.
		claim: f(`SELECT o.feed, o.id, o.time, o.time_ns, o.time_given, octet_length(o.data), o.page_size,
	f.epoch, f.page_size, f.head, o.tx::text, o.ctid::text
FROM (
	SELECT * FROM (
		SELECT feed, id, time, time_ns, time_given, data, page_size, tx, pos, ctid,
			sum(octet_length(data)) OVER (ORDER BY tx) - sum(octet_length(data)) OVER (PARTITION BY tx) AS before
		FROM %[1]s.outbox
		WHERE tx >= $2 AND tx <= (SELECT max(tx) FROM (SELECT tx FROM %[1]s.outbox WHERE tx >= $2 ORDER BY tx, pos LIMIT $1) l)
	) w WHERE before < $3
) o
LEFT JOIN %[1]s.feeds f ON f.name = o.feed
ORDER BY o.tx, o.pos`),
		// Copies the outbox rows with IDs $1, found at ctids $3, into
		// the log at seqs $2. The ctid finds a row without an index
		// probe; the ID checks it is the row the look read (outbox rows
		// are never updated, but VACUUM FULL may move them between the
		// look and the round). A row not found fails the statement
		// (NOT NULL) rather than leave a gap at its seq, and the next
		// look reads it afresh; an ID already in the log fails it on the
		// log's unique key. The statement holds the outbox's ACCESS
		// SHARE lock to the end of the round, so that deleteMoved finds
		// the same rows at the same ctids.
		moveEvents: f(`INSERT INTO %[1]s.events (` + eventColumns + `)
SELECT o.feed, u.seq, u.id, o.type, o.subject, o.time, o.time_ns, o.content_type, o.data
FROM unnest($1::text[], $2::bigint[], $3::text[]::tid[]) AS u(id, seq, tid)
LEFT JOIN %[1]s.outbox o ON o.ctid = u.tid AND o.id = u.id
ORDER BY u.seq`),
		// Deletes the rows moveEvents copied: IDs $1 at ctids $2.
		deleteMoved: f(`DELETE FROM %[1]s.outbox o
USING unnest($1::text[], $2::text[]::tid[]) AS u(id, tid)
WHERE o.ctid = u.tid AND o.id = u.id`),
	}
}

// claim reads the committed outbox rows of whole transactions from
// transaction from on, about limit rows (more to finish the last
// transaction) and about batchBytes of Data, in sequencing order, with the
// state of their feeds, and returns where the next look starts.
func (l *Log) claim(ctx context.Context, conn *pgx.Conn, q seqSQL, from uint64, limit int, full bool) ([]claimed, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	b := &pgx.Batch{}
	next := l.queueClaim(b, q, from, limit, full)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, fmt.Errorf("read outbox: %w", err)
	}
	return next()
}

// queueClaim queues on b the statements of a look at the outbox from
// transaction from on; once b is sent and closed, the function it returns
// gives the rows read and where the next look starts.
func (l *Log) queueClaim(b *pgx.Batch, q seqSQL, from uint64, limit int, full bool) func() ([]claimed, uint64, error) {
	var (
		horizon uint64
		batch   []claimed
	)
	b.Queue(horizonSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&horizon) })
	sql := q.claim
	if full {
		sql = l.q.claim
	}
	b.Queue(sql, limit, from, l.maxBytes).Query(func(rows pgx.Rows) error {
		var err error
		batch, err = collectClaimed(rows, full)
		return err
	})
	return func() ([]claimed, uint64, error) {
		size := 0
		for _, c := range batch {
			size += c.size
		}
		if len(batch) < limit && size < l.maxBytes {
			// Not cut short by either limit: it saw every committed row.
			from = max(from, horizon)
		}
		return batch, from, nil
	}
}

func collectClaimed(rows pgx.Rows, full bool) ([]claimed, error) {
	defer rows.Close()
	scan := scanClaimed
	if full {
		scan = scanClaimedFull
	}
	var batch []claimed
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, err
		}
		batch = append(batch, c)
	}
	return batch, rows.Err()
}

// move sequences batch, as claim read it: it writes the events into the
// log (copying the rows inside the server, or from batch when it was read
// in full), moves the heads, deletes the rows from the outbox and
// notifies the new heads, in one transaction, then looks at the outbox
// again from transaction from on; all in one round trip.
//
// The rows are read outside the transaction that moves them. That is safe
// because only the sequencer writes the log and the feeds, and only it
// deletes committed rows from the outbox, and only one session holds the
// sequencer lock; should two ever sequence at once all the same, the
// log's keys on (feed, seq) and on id fail the second, and so does the
// copy of a row that is no longer in the outbox (see seqSQL).
func (l *Log) move(ctx context.Context, conn *pgx.Conn, q seqSQL, batch []claimed, from uint64, limit int) ([]claimed, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	var (
		ev, rj  eventColumnsArrays
		reasons []string
		ids     = make([]string, 0, len(batch))
		tids    = make([]string, 0, len(batch)) // of ids, unless full
		feeds   = make(map[string]*store.Feed)
		order   []string // feeds in the order first seen
	)
	for _, c := range batch {
		ids = append(ids, c.ev.ID)
		tids = append(tids, c.tid)
		if s := c.stored; s != nil {
			// A repeated ID that slipped past AppendTx (see AppendTx):
			// dropped when it is the same event, kept aside otherwise.
			given := c.ev
			if !c.timeGiven {
				given.Time = time.Time{}
			}
			if !given.SameContent(s) {
				rj.add(c.ev)
				reasons = append(reasons, fmt.Sprintf("ID already stored in feed %s at seq %d with other content", s.Feed, s.Seq))
			}
			continue
		}
		fd := feeds[c.ev.Feed]
		if fd == nil {
			switch {
			case c.feed != nil:
				fd = c.feed
			default:
				size := c.pageSize
				if size <= 0 || size > store.MaxPageSize {
					size = store.DefaultPageSize
				}
				fd = &store.Feed{Name: c.ev.Feed, Epoch: newEpoch(), PageSize: size}
			}
			feeds[c.ev.Feed] = fd
			order = append(order, c.ev.Feed)
		}
		fd.Head++
		fd.Updated = c.ev.Time
		c.ev.Seq = fd.Head
		ev.add(c.ev)
	}
	moved := make([]store.Feed, len(order))
	var (
		fNames, fEpochs, payloads []string
		fSizes                    []int32
		fHeads                    []int64
	)
	for i, name := range order {
		fd := feeds[name]
		moved[i] = *fd
		fNames = append(fNames, fd.Name)
		fEpochs = append(fEpochs, fd.Epoch)
		fSizes = append(fSizes, int32(fd.PageSize))
		fHeads = append(fHeads, int64(fd.Head))
		payloads = append(payloads, formatHead(*fd))
	}

	// One pipeline: if a statement fails, PostgreSQL skips the rest,
	// COMMIT included, and the caller closes the connection.
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	if len(order) > 0 {
		b.Queue(l.q.upsertFeeds, fNames, fEpochs, fSizes, fHeads)
		if batch[0].full {
			b.Queue(l.q.insertEvents, ev.feeds, ev.seqs, ev.ids, ev.types, ev.subjects, ev.times, ev.nss, ev.cts, ev.datas)
		} else {
			b.Queue(q.moveEvents, ev.ids, ev.seqs, tids)
		}
		b.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) p`, l.headsChannel(), payloads)
	}
	if len(reasons) > 0 {
		b.Queue(l.q.insertRejected, rj.ids, rj.feeds, rj.types, rj.subjects, rj.times, rj.nss, rj.cts, rj.datas, reasons)
	}
	if batch[0].full {
		b.Queue(l.q.deleteOutbox, ids)
	} else {
		b.Queue(q.deleteMoved, ids, tids)
	}
	b.Queue(`COMMIT`).Exec(func(pgconn.CommandTag) error {
		// Committed: the heads moved, whatever comes next.
		l.stats.rounds.Add(1)
		for _, fd := range moved {
			l.setHead(fd)
		}
		return nil
	})
	next := l.queueClaim(b, q, from, min(2*limit, batchSize), false)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, fmt.Errorf("move outbox rows: %w", err)
	}
	if len(reasons) > 0 {
		l.stats.rowsRejected.Add(uint64(len(reasons)))
		l.log.Warn("rejected events whose ID is stored with other content", "ids", rj.ids)
	}
	return next()
}

// scanClaimed reads a row of seqSQL's claim.
func scanClaimed(row pgx.Rows) (claimed, error) {
	var (
		c      claimed
		t      time.Time
		ns     int16
		fEpoch *string
		fSize  *int32
		fHead  *int64
	)
	err := row.Scan(&c.ev.Feed, &c.ev.ID, &t, &ns, &c.timeGiven, &c.size, &c.pageSize, &fEpoch, &fSize, &fHead, &c.tx, &c.tid)
	if err != nil {
		return claimed{}, err
	}
	c.ev.Time = joinTime(t, ns)
	if fHead != nil {
		c.feed = &store.Feed{Name: c.ev.Feed, Epoch: *fEpoch, PageSize: int(*fSize), Head: uint64(*fHead)}
	}
	return c, nil
}

// scanClaimedFull reads a row of logSQL's claim, which reads in full.
func scanClaimedFull(row pgx.Rows) (claimed, error) {
	var (
		c                 claimed
		t                 time.Time
		ns                int16
		sFeed, sID, sType *string
		sSubject, sCT     *string
		sSeq              *int64
		sTime             *time.Time
		sNs               *int16
		sData             []byte
		fEpoch            *string
		fSize             *int32
		fHead             *int64
	)
	err := row.Scan(&c.ev.Feed, &c.ev.ID, &c.ev.Type, &c.ev.Subject, &t, &ns, &c.timeGiven, &c.ev.ContentType, &c.ev.Data, &c.pageSize,
		&sFeed, &sSeq, &sID, &sType, &sSubject, &sTime, &sNs, &sCT, &sData,
		&fEpoch, &fSize, &fHead, &c.tx)
	if err != nil {
		return claimed{}, err
	}
	c.ev.Time = joinTime(t, ns)
	c.size, c.full = len(c.ev.Data), true
	if sSeq != nil {
		c.stored = &eventfeed.Event{Feed: *sFeed, Seq: uint64(*sSeq), ID: *sID, Type: *sType, Subject: *sSubject,
			Time: joinTime(*sTime, *sNs), ContentType: *sCT, Data: sData}
	}
	if fHead != nil {
		c.feed = &store.Feed{Name: c.ev.Feed, Epoch: *fEpoch, PageSize: int(*fSize), Head: uint64(*fHead)}
	}
	return c, nil
}

// eventColumnsArrays gathers events column by column, as unnest takes them.
type eventColumnsArrays struct {
	feeds, ids, types, subjects, cts []string
	seqs                             []int64
	times                            []time.Time
	nss                              []int16
	datas                            [][]byte
}

func (a *eventColumnsArrays) add(e eventfeed.Event) {
	t, ns := splitTime(e.Time)
	a.feeds = append(a.feeds, e.Feed)
	a.seqs = append(a.seqs, int64(e.Seq))
	a.ids = append(a.ids, e.ID)
	a.types = append(a.types, e.Type)
	a.subjects = append(a.subjects, e.Subject)
	a.times = append(a.times, t)
	a.nss = append(a.nss, ns)
	a.cts = append(a.cts, e.ContentType)
	a.datas = append(a.datas, data(e.Data))
}
