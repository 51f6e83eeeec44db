package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// TestAppendTxWithBusinessRows commits an event with the caller's own
// rows, or rolls both back.
func TestAppendTxWithBusinessRows(t *testing.T) {
	schema := newSchema(t)
	l := openLog(t, schema)
	pool := adminPool(t)
	ctx := context.Background()
	orders := pgx.Identifier{schema, "orders"}.Sanitize()
	if _, err := pool.Exec(ctx, "CREATE TABLE "+orders+" (id text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id     string
		commit bool
	}{
		{"o-1", false},
		{"o-2", true},
	} {
		tx := begin(t, pool)
		if _, err := tx.Exec(ctx, "INSERT INTO "+orders+" VALUES ($1)", tt.id); err != nil {
			t.Fatal(err)
		}
		appendTx(t, l, tx, testEvent("orders", tt.id))
		if tt.commit {
			commit(t, tx)
		} else if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitHead(t, l, "orders", 1)
	if got := readIDs(t, l, "orders"); !slices.Equal(got, []string{"o-2"}) {
		t.Errorf("log = %v, want [o-2]: the rolled-back order's event never existed", got)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+orders).Scan(&n); err != nil || n != 1 {
		t.Errorf("orders = %d, %v; want 1", n, err)
	}
}

// TestAppendTxConflictLeavesTxUsable: a conflict undoes the call's own
// rows and nothing else; the caller may go on and commit.
func TestAppendTxConflictLeavesTxUsable(t *testing.T) {
	l := openLog(t, newSchema(t))
	pool := adminPool(t)
	ctx := context.Background()
	if _, err := l.Append(ctx, testEvent("c", "taken")); err != nil {
		t.Fatal(err)
	}
	other := testEvent("c", "taken")
	other.Data = []byte(`{"other":true}`)

	tx := begin(t, pool)
	appendTx(t, l, tx, testEvent("c", "before"))
	if err := l.AppendTx(ctx, tx, testEvent("c", "fresh"), other); !errors.Is(err, eventfeed.ErrConflict) {
		t.Fatalf("AppendTx of a taken ID = %v, want ErrConflict", err)
	}
	appendTx(t, l, tx, testEvent("c", "after"), testEvent("c", "taken")) // a replay is fine
	commit(t, tx)
	waitHead(t, l, "c", 3)
	if got := readIDs(t, l, "c"); !slices.Equal(got, []string{"taken", "before", "after"}) {
		t.Errorf("log = %v, want [taken before after]: nothing of the refused call", got)
	}
}

// TestAppendTxSameIDConcurrently: a second transaction inserting an ID
// that a first one holds in the outbox waits for it, then is a replay, a
// conflict, or the first copy if the first rolled back.
func TestAppendTxSameIDConcurrently(t *testing.T) {
	l := openLog(t, newSchema(t))
	pool := adminPool(t)
	ctx := context.Background()
	other := func(e eventfeed.Event) eventfeed.Event {
		e.Data = []byte(`"other"`)
		return e
	}
	tests := []struct {
		name        string
		second      func(eventfeed.Event) eventfeed.Event
		firstCommit bool
		want        error
		wantData    string // of the event in the log
	}{
		{"same content, first commits", func(e eventfeed.Event) eventfeed.Event { return e }, true, nil, ""},
		{"other content, first commits", other, true, eventfeed.ErrConflict, ""},
		{"other content, first rolls back", other, false, nil, `"other"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed := fmt.Sprintf("f%d", i)
			e := testEvent(feed, fmt.Sprintf("x%d", i))
			first := begin(t, pool)
			appendTx(t, l, first, e)
			second := begin(t, pool)
			done := make(chan error, 1)
			go func() { done <- l.AppendTx(ctx, second, tt.second(e)) }()
			notYet(t, "the second AppendTx of an ID held by an open transaction", done)
			if tt.firstCommit {
				commit(t, first)
			} else if err := first.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := receive(t, "the second AppendTx", done); !errors.Is(err, tt.want) {
				t.Fatalf("second AppendTx = %v, want %v", err, tt.want)
			}
			commit(t, second)
			waitHead(t, l, feed, 1)
			evs, err := l.Read(ctx, feed, 1, 10)
			if err != nil || len(evs) != 1 {
				t.Fatalf("Read = %v, %v; want the one event", evs, err)
			}
			want := e.Data
			if tt.wantData != "" {
				want = []byte(tt.wantData)
			}
			if string(evs[0].Data) != string(want) {
				t.Errorf("stored data %s, want %s", evs[0].Data, want)
			}
		})
	}
}

// TestRepeatableReadSlip is the documented corner: a REPEATABLE READ
// transaction that began before an ID was sequenced cannot see it, and
// inserts a copy. The sequencer drops a same-content copy and sets aside
// a different one, without touching the log.
func TestRepeatableReadSlip(t *testing.T) {
	schema := newSchema(t)
	l := openLog(t, schema)
	pool := adminPool(t)
	ctx := context.Background()
	stored, err := l.Append(ctx, testEvent("r", "a"), testEvent("r", "b"))
	if err != nil {
		t.Fatal(err)
	}
	var txs []pgx.Tx
	for range 2 {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil { // take the snapshot now
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	// Sequenced after both snapshots.
	c := testEvent("r", "c")
	d := testEvent("r", "d")
	if _, err := l.Append(ctx, c, d); err != nil {
		t.Fatal(err)
	}
	otherD := d
	otherD.Data = []byte(`"other"`)
	appendTx(t, l, txs[0], c)      // same content: dropped
	appendTx(t, l, txs[1], otherD) // other content: rejected
	commit(t, txs[0])
	commit(t, txs[1])

	s := pgx.Identifier{schema}.Sanitize()
	eventually(t, "an empty outbox", func() bool {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+s+".outbox").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	if got := readIDs(t, l, "r"); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("log = %v, want [a b c d], untouched", got)
	}
	var id, data, reason string
	rows, _ := pool.Query(ctx, "SELECT id, convert_from(data, 'UTF8'), reason FROM "+s+".rejected")
	n := 0
	if _, err := pgx.ForEachRow(rows, []any{&id, &data, &reason}, func() error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 || id != "d" || data != `"other"` || reason == "" {
		t.Errorf("rejected = %d rows, last %s %s %q; want the other d, with a reason", n, id, data, reason)
	}
	if f, _ := l.Feed(ctx, "r"); f.Head != 4 || f.Updated.Before(stored[1].Time) {
		t.Errorf("Feed = %+v, want head 4", f)
	}
}

// TestPageSize: a new feed gets the Log's page size; a feed keeps the one
// it was made with.
func TestPageSize(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	open := func(size int) *Log {
		l, err := Open(ctx, testDSN(t), Options{Schema: schema, PageSize: size, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	a := open(20)
	if _, err := a.Append(ctx, testEvent("twenty", "1")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := open(0)
	if _, err := b.Append(ctx, testEvent("twenty", "2"), testEvent("default", "3")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		feed string
		want int
	}{
		{"twenty", 20},
		{"default", 100},
	} {
		if f, err := b.Feed(ctx, tt.feed); err != nil || f.PageSize != tt.want {
			t.Errorf("Feed(%s) = %+v, %v; want page size %d", tt.feed, f, err, tt.want)
		}
	}
}

// TestWakeOnCommit: with WakeOnCommit, AppendTx queues a NOTIFY that
// PostgreSQL delivers when the caller's transaction commits, and not
// before; without it, business transactions notify nothing.
func TestWakeOnCommit(t *testing.T) {
	for _, wake := range []bool{true, false} {
		t.Run(fmt.Sprintf("WakeOnCommit=%v", wake), func(t *testing.T) {
			schema := newSchema(t)
			pool := adminPool(t)
			ctx := context.Background()
			l, err := Open(ctx, testDSN(t), Options{Schema: schema, WakeOnCommit: wake, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			conn, err := pgx.Connect(ctx, testenv.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.outboxChannel()}.Sanitize()); err != nil {
				t.Fatal(err)
			}
			notified := make(chan error, 1)
			go func() {
				wctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				_, err := conn.WaitForNotification(wctx)
				notified <- err
			}()
			tx := begin(t, pool)
			appendTx(t, l, tx, testEvent("w", "1"))
			notYet(t, "a notification before the commit", notified)
			commit(t, tx)
			err = receive(t, "the notification", notified)
			if wake && err != nil {
				t.Errorf("no notification after the commit: %v", err)
			}
			if !wake && err == nil {
				t.Errorf("a business transaction notified without WakeOnCommit")
			}
			waitHead(t, l, "w", 1)
		})
	}
}
