package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func seqEvent(feed, id string) eventfeed.Event {
	return eventfeed.Event{Feed: feed, ID: id, Type: "t", Data: []byte(`{}`)}
}

// TestPoisonRow makes one outbox row fail every sequencing round (a
// trigger on the log refuses it): it moves to the rejected table with the
// trigger's error after maxRoundFailures rounds of its own, the Append
// waiting for it gets ErrRejected, and the events committed around it are
// sequenced; Stats count the failed rounds and the rejected row.
func TestPoisonRow(t *testing.T) {
	schema := newSchema(t)
	l := openLog(t, schema)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := l.Append(ctx, seqEvent("f", "before")); err != nil {
		t.Fatal(err)
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := adminPool(t).Exec(ctx, fmt.Sprintf(`CREATE FUNCTION %[1]s.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id LIKE 'poison%%' THEN RAISE EXCEPTION 'the log refuses %%', NEW.id; END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER refuse BEFORE INSERT ON %[1]s.events FOR EACH ROW EXECUTE FUNCTION %[1]s.refuse();`, q)); err != nil {
		t.Fatal(err)
	}

	// Poison and good events, each append a transaction of its own, at
	// once, so that rounds hold several; one transaction holds a good
	// event and a poisoned one.
	var wg sync.WaitGroup
	errs := make(map[string]error)
	var mu sync.Mutex
	appendAll := func(name string, evs ...eventfeed.Event) {
		defer wg.Done()
		_, err := l.Append(ctx, evs...)
		mu.Lock()
		errs[name] = err
		mu.Unlock()
	}
	for i := range 10 {
		wg.Add(1)
		go appendAll(fmt.Sprintf("good-%d", i), seqEvent("f", fmt.Sprintf("good-%d", i)))
	}
	wg.Add(2)
	go appendAll("poison", seqEvent("f", "poison-1"))
	go appendAll("mixed", seqEvent("g", "with-poison"), seqEvent("g", "poison-2"))
	wg.Wait()

	for name, err := range errs {
		switch {
		case strings.HasPrefix(name, "good"):
			if err != nil {
				t.Errorf("append %s: %v", name, err)
			}
		case !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "the log refuses"):
			t.Errorf("append %s: %v, want ErrRejected with the trigger's error", name, err)
		}
	}
	if f, err := l.Feed(ctx, "f"); err != nil || f.Head != 11 {
		t.Errorf("feed f: head %d (%v), want 11: before and the ten good events", f.Head, err)
	}
	if _, err := l.Feed(ctx, "g"); !errors.Is(err, eventfeed.ErrFeedNotFound) {
		t.Errorf("feed g: %v, want none: its one transaction was rejected whole", err)
	}
	rows, _ := adminPool(t).Query(ctx, fmt.Sprintf(`SELECT id, reason FROM %s.rejected ORDER BY id`, q))
	var got []string
	var id, reason string
	_, err := pgx.ForEachRow(rows, []any{&id, &reason}, func() error {
		got = append(got, id)
		if !strings.Contains(reason, "the log refuses") {
			t.Errorf("rejected %s: reason %q, want the trigger's error", id, reason)
		}
		return nil
	})
	if err != nil || strings.Join(got, " ") != "poison-1 poison-2 with-poison" {
		t.Errorf("rejected table holds %v (%v), want poison-1 poison-2 with-poison", got, err)
	}
	var left int
	if err := adminPool(t).QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.outbox`, q)).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d rows left in the outbox (%v)", left, err)
	}
	st := counts(l)
	if st.RowsRejected != 3 || st.RoundsFailed < 2*maxRoundFailures {
		t.Errorf("Stats = %+v, want 3 rows rejected and at least %d rounds failed", st, 2*maxRoundFailures)
	}
	// The log flows on.
	if evs, err := l.Append(ctx, seqEvent("f", "after")); err != nil || evs[0].Seq != 12 {
		t.Errorf("append after: %v %v", evs, err)
	}
}

// TestTransactionOneRound appends one transaction of more events than a
// round takes: it is sequenced in one round, so no reader sees part of it.
func TestTransactionOneRound(t *testing.T) {
	schema := newSchema(t)
	l := openLog(t, schema)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = batchSize + batchSize/2
	evs := make([]eventfeed.Event, n)
	for i := range evs {
		evs[i] = seqEvent("f", fmt.Sprintf("e-%d", i))
	}
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendTx(ctx, tx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := l.Wait(ctx, "f", 0)
	if err != nil || f.Head != n {
		t.Errorf("first head seen %d (%v), want %d: the whole transaction at once", f.Head, err, n)
	}
	// The round is counted once its commit is read, which the head's
	// notification may overtake.
	for deadline := time.Now().Add(20 * time.Second); counts(l).Rounds == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := counts(l).Rounds; got != 1 {
		t.Errorf("Stats().Rounds = %d, want 1", got)
	}
}

// TestResyncUnderTraffic checks that the heads are reread on a clock of
// their own, even while notifications never stop.
func TestResyncUnderTraffic(t *testing.T) {
	schema := newSchema(t)
	l, err := Open(context.Background(), testDSN(t), Options{Schema: schema, Logger: testLogger(t), resync: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := counts(l).Resyncs
	for i := 0; counts(l).Resyncs < before+2; i++ {
		// A notification every few milliseconds, far more often than
		// the resync interval.
		if _, err := l.Append(ctx, seqEvent("f", fmt.Sprintf("e-%d", i))); err != nil {
			t.Fatalf("append %d: %v (resyncs %d)", i, err, counts(l).Resyncs-before)
		}
	}
}

// TestRowFault checks which errors of a round count against its rows: a
// full disk or a deadlock must not empty the outbox into the rejected
// table.
func TestRowFault(t *testing.T) {
	for code, want := range map[string]bool{
		"23505": true,  // unique violation
		"23514": true,  // check violation
		"P0001": true,  // raised by a trigger
		"22021": true,  // invalid byte sequence
		"54000": true,  // program limit exceeded (a row too large)
		"53100": false, // disk full
		"53200": false, // out of memory
		"40P01": false, // deadlock
		"40001": false, // serialization failure
		"55P03": false, // lock not available
		"57P01": false, // admin shutdown
		"58030": false, // I/O error
		"XX000": false, // internal error
		"":      false,
	} {
		if got := rowFault(&pgconn.PgError{Code: code}); got != want {
			t.Errorf("rowFault(%q) = %t, want %t", code, got, want)
		}
	}
}

// counts returns l's Stats; the counts of this instance are there even
// when the database does not answer.
func counts(l *Log) Stats {
	st, _ := l.Stats(context.Background())
	return st
}

// TestNoSequencer: an instance opened with NoSequencer never takes the
// sequencer's lock, so its committed events wait in the outbox; once an
// instance that sequences opens, they are sequenced and the first one
// hears of them.
func TestNoSequencer(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	writer, err := Open(ctx, testDSN(t), Options{Schema: schema, NoSequencer: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { writer.Close() })
	tx := begin(t, writer.pool)
	appendTx(t, writer, tx, seqEvent("f", "a"), seqEvent("f", "b"))
	commit(t, tx)
	st, err := writer.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leading || st.SequencerAlive || st.Outbox != 2 || st.Rounds != 0 {
		t.Fatalf("stats before a sequencer opens: %+v, want no sequencer, 2 events in the outbox, no rounds", st)
	}
	openLog(t, schema)
	if f := waitHead(t, writer, "f", 2); f.Head != 2 {
		t.Fatalf("head %d, want 2", f.Head)
	}
	if ids := readIDs(t, writer, "f"); strings.Join(ids, ",") != "a,b" {
		t.Errorf("read %v, want a, b", ids)
	}
	if st, err := writer.Stats(ctx); err != nil || st.Leading || !st.SequencerAlive || st.Outbox != 0 || st.Rounds != 0 {
		t.Errorf("stats after: %+v (%v), want another instance sequencing, an empty outbox, no rounds here", st, err)
	}
}

// TestMoveEventsMissingRow: the round that copies outbox rows into the log
// inside the server fails when a row it was given is not at its ctid with
// its ID (gone, or moved by VACUUM FULL), rather than move the head past a
// seq it left empty; given the right ones, it copies and deletes them.
func TestMoveEventsMissingRow(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	l, err := Open(ctx, testDSN(t), Options{Schema: schema, NoSequencer: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	q := newSeqSQL(schema)
	tx := begin(t, l.pool)
	appendTx(t, l, tx, seqEvent("f", "here"))
	var tid string
	if err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT ctid::text FROM %s.outbox WHERE id = 'here'`, pgx.Identifier{schema}.Sanitize())).Scan(&tid); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SAVEPOINT s`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(ctx, q.moveEvents, []string{"here", "gone"}, []int64{1, 2}, []string{tid, tid})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23502" {
		t.Fatalf("moving a row that is not at its ctid: %v, want a not-null violation", err)
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`); err != nil {
		t.Fatal(err)
	}
	if tag, err := tx.Exec(ctx, q.moveEvents, []string{"here"}, []int64{1}, []string{tid}); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("moving the row: %v, %d rows", err, tag.RowsAffected())
	}
	if tag, err := tx.Exec(ctx, q.deleteMoved, []string{"here", "gone"}, []string{tid, tid}); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("deleting the moved row: %v, %d rows; want 1", err, tag.RowsAffected())
	}
}
