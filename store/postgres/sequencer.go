package postgres

import (
	"context"
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
//  1. Gapless: a feed's seqs are written only by sequencing transactions,
//     each writing head+1…head+k and head := head+k under a row lock on
//     the feed, and (feed, seq) is the key of the log.
//  2. No skip: a reader sees a sequencing transaction all at once or not at
//     all (it commits atomically), and each one only appends above the
//     head the previous one left. A reader that saw seq n has seen 1…n,
//     and no event can later appear at or below n.
//  3. Nothing lost: a row that commits late (outbox position 10 after 11)
//     is still in the outbox at the next round, which takes every row
//     committed so far, and gets the next seq then. A rolled-back row was
//     never visible to the sequencer.
//  4. Commit order: a round reads the outbox through one snapshot, which
//     holds exactly the transactions committed before it. Every event
//     committed before round r's snapshot gets a lower seq than every
//     event committed after it. Within one round, events are ordered by
//     the id of the transaction that wrote them (the tx column, from
//     pg_current_xact_id()), then by outbox position: the events of one
//     transaction stay together and in the order they were appended.
//  5. One sequencer: the rounds run on the connection that holds the
//     session advisory lock. If that session ends, its open transaction
//     ends with it, uncommitted, before the lock can pass to another
//     instance. The FOR UPDATE row locks and the check that every claimed
//     row was deleted are a second line of defence.
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
			c, err := pgx.ConnectConfig(ctx, l.connCfg)
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

// lead runs sequencing rounds on conn, which holds the sequencer lock,
// whenever woken and every pollInterval, until a round fails or ctx is
// done.
func (l *Log) lead(ctx context.Context, conn *pgx.Conn) error {
	l.leading.Store(true)
	defer l.leading.Store(false)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		for {
			n, err := l.round(ctx, conn)
			if err != nil {
				return err
			}
			if n < batchSize {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.kick:
		case <-tick.C:
		}
	}
}

// claimed is one outbox row taken by a round.
type claimed struct {
	pos       int64
	ev        eventfeed.Event
	timeGiven bool // ev.Time was given, not filled in by AppendTx
	pageSize  int
	stored    *eventfeed.Event // the event already in the log with this ID
}

// round moves up to batchSize committed outbox rows into the log in one
// transaction, returning how many it took.
func (l *Log) round(ctx context.Context, conn *pgx.Conn) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())

	rows, _ := tx.Query(ctx, l.q.claim, batchSize)
	var batch []claimed
	for rows.Next() {
		c, err := scanClaimed(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("read outbox: %w", err)
		}
		batch = append(batch, c)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}

	var names []string
	seen := make(map[string]bool)
	for _, c := range batch {
		if c.stored == nil && !seen[c.ev.Feed] {
			seen[c.ev.Feed] = true
			names = append(names, c.ev.Feed)
		}
	}
	feeds := make(map[string]*store.Feed, len(names))
	rows, _ = tx.Query(ctx, l.q.lockFeeds, names)
	var (
		f    store.Feed
		head int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&f.Name, &f.Epoch, &f.PageSize, &head}, func() error {
		f.Head = uint64(head)
		feeds[f.Name] = &store.Feed{Name: f.Name, Epoch: f.Epoch, PageSize: f.PageSize, Head: f.Head}
		return nil
	}); err != nil {
		return 0, fmt.Errorf("lock feeds: %w", err)
	}

	var (
		ev              eventColumnsArrays
		rj              eventColumnsArrays
		reasons         []string
		poss            = make([]int64, 0, len(batch))
		fNames, fEpochs []string
		fSizes          []int32
		fHeads          []int64
	)
	for _, c := range batch {
		poss = append(poss, c.pos)
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
			size := c.pageSize
			if size <= 0 || size > store.MaxPageSize {
				size = store.DefaultPageSize
			}
			fd = &store.Feed{Name: c.ev.Feed, Epoch: newEpoch(), PageSize: size}
			feeds[c.ev.Feed] = fd
		}
		fd.Head++
		fd.Updated = c.ev.Time
		c.ev.Seq = fd.Head
		ev.add(c.ev)
	}
	var moved []store.Feed
	for _, name := range names {
		fd := feeds[name]
		moved = append(moved, *fd)
		fNames = append(fNames, fd.Name)
		fEpochs = append(fEpochs, fd.Epoch)
		fSizes = append(fSizes, int32(fd.PageSize))
		fHeads = append(fHeads, int64(fd.Head))
	}

	b := &pgx.Batch{}
	if len(fNames) > 0 {
		b.Queue(l.q.upsertFeeds, fNames, fEpochs, fSizes, fHeads)
		b.Queue(l.q.insertEvents, ev.feeds, ev.seqs, ev.ids, ev.types, ev.subjects, ev.times, ev.nss, ev.cts, ev.datas)
	}
	if len(reasons) > 0 {
		b.Queue(l.q.insertRejected, rj.ids, rj.feeds, rj.types, rj.subjects, rj.times, rj.nss, rj.cts, rj.datas, reasons)
	}
	b.Queue(l.q.deleteOutbox, poss).Exec(func(ct pgconn.CommandTag) error {
		if ct.RowsAffected() != int64(len(poss)) {
			return errMovedConcurrently
		}
		return nil
	})
	payloads := make([]string, len(moved))
	for i, fd := range moved {
		payloads[i] = formatHead(fd)
	}
	if len(payloads) > 0 {
		b.Queue(`SELECT pg_notify($1, p) FROM unnest($2::text[]) p`, l.headsChannel(), payloads)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, fmt.Errorf("move outbox rows: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	for _, fd := range moved {
		l.setHead(fd)
	}
	if len(reasons) > 0 {
		l.log.Warn("rejected events whose ID is stored with other content", "ids", rj.ids)
	}
	return len(batch), nil
}

// scanClaimed reads a row of the claim query: the outbox row, then the
// columns of the event with the same ID in the log, NULL when there is
// none.
func scanClaimed(row pgx.Rows) (claimed, error) {
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
	)
	err := row.Scan(&c.pos, &c.ev.Feed, &c.ev.ID, &c.ev.Type, &c.ev.Subject, &t, &ns, &c.timeGiven, &c.ev.ContentType, &c.ev.Data, &c.pageSize,
		&sFeed, &sSeq, &sID, &sType, &sSubject, &sTime, &sNs, &sCT, &sData)
	if err != nil {
		return claimed{}, err
	}
	c.ev.Time = joinTime(t, ns)
	if sSeq != nil {
		c.stored = &eventfeed.Event{Feed: *sFeed, Seq: uint64(*sSeq), ID: *sID, Type: *sType, Subject: *sSubject,
			Time: joinTime(*sTime, *sNs), ContentType: *sCT, Data: sData}
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
