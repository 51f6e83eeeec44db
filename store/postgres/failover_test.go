package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockHolder returns the backend pid holding the session advisory lock
// key, or 0 when nobody holds it.
func lockHolder(t *testing.T, pool *pgxpool.Pool, key int64) int32 {
	t.Helper()
	var pid int32
	err := pool.QueryRow(context.Background(), `SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 1
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND classid = $1 AND objid = $2`, uint32(uint64(key)>>32), uint32(uint64(key))).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatalf("find the holder of lock %d: %v", key, err)
	}
	return pid
}

// terminate ends the backend pid, as a crash or a network failure would.
func terminate(t *testing.T, pool *pgxpool.Pool, pid int32) {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}

// eventually polls cond until it holds, failing t after hang.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %v", what, hang)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leader waits until exactly one of logs is the sequencer and returns it.
func leader(t *testing.T, logs ...*Log) *Log {
	t.Helper()
	var lead *Log
	eventually(t, "one sequencer", func() bool {
		lead = nil
		n := 0
		for _, l := range logs {
			if l.leading.Load() {
				lead = l
				n++
			}
		}
		return n == 1
	})
	return lead
}

// TestSequencerFailover kills the sequencer mid-stream, twice: once by
// ending its database session, once by closing its instance. Sequencing
// resumes each time, on the other instance when the first is gone, and the
// log ends up with every committed event once, in order.
func TestSequencerFailover(t *testing.T) {
	schema := newSchema(t)
	a, b := openLog(t, schema), openLog(t, schema)
	pool := adminPool(t)
	key := lockKey(schema, "sequencer")
	const feed, total = "f", 300

	// A writer commits events one by one through its own pool, as a
	// service's business transactions would, for the whole test.
	var written atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for i := range total {
				// Through either instance, the other when one is closed,
				// as a load balancer would retry.
				var err error
				for _, l := range []*Log{a, b} {
					err = pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
						return l.AppendTx(context.Background(), tx, testEvent(feed, fmt.Sprintf("e%03d", i)))
					})
					if !errors.Is(err, eventfeed.ErrClosed) {
						break
					}
				}
				if err != nil {
					return err
				}
				written.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
			return nil
		}()
	}()
	var target atomic.Uint64
	seen := make(chan []string, 1)
	survivorReads := make(chan error, 1)

	first := leader(t, a, b)
	eventually(t, "past event 50", func() bool { return written.Load() > 50 })
	pid := lockHolder(t, pool, key)
	if pid == 0 {
		t.Fatal("nobody holds the sequencer lock")
	}
	terminate(t, pool, pid)
	eventually(t, "sequencing again after the session was killed", func() bool {
		p := lockHolder(t, pool, key)
		return p != 0 && p != pid
	})

	eventually(t, "past event 150", func() bool { return written.Load() > 150 })
	second := leader(t, a, b)
	survivor := a
	if second == a {
		survivor = b
	}
	go func() {
		ids, err := follow(survivor, feed, &target)
		seen <- ids
		survivorReads <- err
	}()
	second.Close()
	if lead := leader(t, survivor); lead != survivor {
		t.Fatal("the surviving instance did not take over")
	}
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	target.Store(total)
	if err := <-survivorReads; err != nil {
		t.Fatalf("reader on the survivor: %v", err)
	}
	ids := <-seen
	for i, id := range ids {
		if want := fmt.Sprintf("e%03d", i); id != want {
			t.Fatalf("seq %d holds %s, want %s (every event once, in commit order)", i+1, id, want)
		}
	}
	if len(ids) != total {
		t.Errorf("the survivor read %d events, want %d", len(ids), total)
	}
	t.Logf("first sequencer %p, after the kill %p, survivor %p", first, second, survivor)
}

// TestListenerReconnect kills an instance's listener session: it
// reconnects, and events sequenced by the other instance wake its Wait.
func TestListenerReconnect(t *testing.T) {
	schema := newSchema(t)
	a, b := openLog(t, schema), openLog(t, schema)
	pool := adminPool(t)
	if _, err := a.Append(context.Background(), testEvent("l", "1")); err != nil {
		t.Fatal(err)
	}
	waitHead(t, b, "l", 1)

	var pids []int32
	rows, _ := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND query LIKE $1`, "%"+schema+"%")
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) != 2 {
		t.Fatalf("listener sessions = %v, %v; want 2", pids, err)
	}
	for _, pid := range pids {
		terminate(t, pool, pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	wait := make(chan error, 1)
	go func() {
		_, err := b.Wait(ctx, "l", 1)
		wait <- err
	}()
	if _, err := a.Append(ctx, testEvent("l", "2")); err != nil {
		t.Fatal(err)
	}
	if err := <-wait; err != nil {
		t.Fatalf("Wait on the other instance after its listener was killed: %v", err)
	}
}
