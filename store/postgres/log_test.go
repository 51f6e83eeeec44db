package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// hang bounds how long a test waits for something that should happen
// soon; it guards against hanging, it does not measure speed.
const hang = 20 * time.Second

func testEvent(feed, id string) eventfeed.Event {
	return eventfeed.Event{Feed: feed, ID: id, Type: "thing.happened", Subject: "s-" + id, Data: []byte(`{"id":"` + id + `"}`)}
}

// waitHead waits until l's head of feed reaches head.
func waitHead(t *testing.T, l *Log, feed string, head uint64) store.Feed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	f, err := l.Wait(ctx, feed, head-1)
	if err != nil {
		t.Fatalf("Wait(%s, %d): %v", feed, head-1, err)
	}
	return f
}

func readIDs(t *testing.T, l *Log, feed string) []string {
	t.Helper()
	evs, err := l.Read(context.Background(), feed, 1, math.MaxUint64)
	if err != nil {
		t.Fatalf("Read(%s): %v", feed, err)
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("Read(%s): event %d has seq %d, want %d", feed, i, e.Seq, i+1)
		}
		ids[i] = e.ID
	}
	return ids
}

func begin(t *testing.T, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	tx, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	return tx
}

func appendTx(t *testing.T, l *Log, tx pgx.Tx, events ...eventfeed.Event) {
	t.Helper()
	if err := l.AppendTx(context.Background(), tx, events...); err != nil {
		t.Fatalf("AppendTx: %v", err)
	}
}

func commit(t *testing.T, tx pgx.Tx) {
	t.Helper()
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// outboxPos returns the outbox position tx gave the event with id.
func outboxPos(t *testing.T, l *Log, tx pgx.Tx, id string) int64 {
	t.Helper()
	var pos int64
	if err := tx.QueryRow(context.Background(), fmt.Sprintf(`SELECT pos FROM %s.outbox WHERE id = $1`, pgx.Identifier{l.schema}.Sanitize()), id).Scan(&pos); err != nil {
		t.Fatalf("outbox position of %s: %v", id, err)
	}
	return pos
}

// TestOutOfOrderCommit is the trap: the transaction holding outbox
// position n+1 commits before the one holding n. The late one is neither
// lost nor slipped in below a seq a reader already passed, and the early
// one is not held back by the open transaction.
func TestOutOfOrderCommit(t *testing.T) {
	l := openLog(t, newSchema(t))
	pool := adminPool(t)

	late := begin(t, pool)
	appendTx(t, l, late, testEvent("o", "late"))
	early := begin(t, pool)
	appendTx(t, l, early, testEvent("o", "early"))
	if p, q := outboxPos(t, l, late, "late"), outboxPos(t, l, early, "early"); p >= q {
		t.Fatalf("outbox positions late=%d early=%d, want late < early for this test to mean anything", p, q)
	}
	commit(t, early)

	// The early commit is sequenced while the late transaction is open.
	f := waitHead(t, l, "o", 1)
	if got := readIDs(t, l, "o"); fmt.Sprint(got) != "[early]" {
		t.Fatalf("log while the late transaction is open = %v, want [early]", got)
	}
	rolled := begin(t, pool)
	appendTx(t, l, rolled, testEvent("o", "rolled-back"))
	if err := rolled.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	commit(t, late)
	g := waitHead(t, l, "o", 2)
	if got := readIDs(t, l, "o"); fmt.Sprint(got) != "[early late]" {
		t.Errorf("log after the late commit = %v, want [early late] (commit order, nothing below seq 1)", got)
	}
	if g.Epoch != f.Epoch || g.Head != 2 {
		t.Errorf("Feed = %+v, want head 2 in epoch %s", g, f.Epoch)
	}
	// Nothing else arrives: the rolled-back event never existed.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if f, err := l.Wait(ctx, "o", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait after 2 = %+v, %v; want nothing more (the rolled-back event)", f, err)
	}
}

// TestConcurrentWriters runs writers on two Log instances (two pools)
// whose transactions do other work for 0–20 ms and sometimes roll back,
// while a reader on each instance follows the feed with Wait and Read.
// Each reader must see exactly 1…N, every committed event once, no
// rolled-back one, each writer's events in its commit order, and nothing
// ever appearing below a seq it already passed.
func TestConcurrentWriters(t *testing.T) {
	schema := newSchema(t)
	logs := []*Log{openLog(t, schema), openLog(t, schema)}
	const writers, each = 16, 20
	const feed = "w"

	var (
		mu        sync.Mutex
		committed = make(map[string]bool)
		rolled    = make(map[string]bool)
		wg        sync.WaitGroup
		errs      = make(chan error, writers)
	)
	for w := range writers {
		l := logs[w%2]
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%02d-%03d", w, i)
				err := func() error {
					ctx := context.Background()
					tx, err := l.pool.Begin(ctx)
					if err != nil {
						return err
					}
					defer tx.Rollback(ctx)
					if err := l.AppendTx(ctx, tx, testEvent(feed, id)); err != nil {
						return err
					}
					time.Sleep(time.Duration(rng.IntN(21)) * time.Millisecond) // the transaction's other work
					mu.Lock()
					defer mu.Unlock()
					if rng.IntN(5) == 0 {
						rolled[id] = true
						return tx.Rollback(ctx)
					}
					// Recorded as committed before the commit: a reader
					// may see it a moment later, never sooner.
					committed[id] = true
					return tx.Commit(ctx)
				}()
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		}()
	}

	type seen struct {
		ids []string
		err error
	}
	var target atomic.Uint64
	results := make([]chan seen, len(logs))
	for i, l := range logs {
		results[i] = make(chan seen, 1)
		go func() {
			var s seen
			s.ids, s.err = follow(l, feed, &target)
			results[i] <- s
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := uint64(len(committed))
	target.Store(total)

	var saw []seen
	for i := range logs {
		s := <-results[i]
		if s.err != nil {
			t.Fatalf("reader %d: %v", i, s.err)
		}
		saw = append(saw, s)
	}
	final := readIDs(t, logs[0], feed)
	for i, s := range saw {
		if fmt.Sprint(s.ids) != fmt.Sprint(final) {
			t.Errorf("reader %d saw %d events %v, the log holds %d %v: what a reader saw changed later", i, len(s.ids), s.ids, len(final), final)
		}
	}
	if uint64(len(final)) != total {
		t.Errorf("log holds %d events, want the %d committed", len(final), total)
	}
	last := make(map[string]string) // writer → its last event seen
	for _, id := range final {
		if rolled[id] {
			t.Errorf("rolled-back event %s is in the log", id)
		}
		if !committed[id] {
			t.Errorf("event %s in the log was never committed", id)
		}
		delete(committed, id)
		w := id[:3]
		if p, ok := last[w]; ok && p >= id {
			t.Errorf("writer %s: event %s after %s, want commit order", w, id, p)
		}
		last[w] = id
	}
	if len(committed) > 0 {
		t.Errorf("%d committed events missing from the log", len(committed))
	}
	if len(rolled) == 0 {
		t.Errorf("no transaction rolled back: the test did not test that")
	}
	t.Logf("%d events committed, %d rolled back", total, len(rolled))
}

// follow reads feed as a publisher's long poll does, checking that every
// event it gets is the next seq, until it has read as many as target holds
// (once target is not zero); it returns the IDs in seq order.
func follow(l *Log, feed string, target *atomic.Uint64) ([]string, error) {
	var ids []string
	deadline := time.Now().Add(2 * hang)
	for {
		if n := target.Load(); n != 0 && uint64(len(ids)) >= n {
			return ids, nil
		}
		if time.Now().After(deadline) {
			return ids, fmt.Errorf("stuck at seq %d", len(ids))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		f, err := l.Wait(ctx, feed, uint64(len(ids)))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			return ids, err
		}
		evs, err := l.Read(context.Background(), feed, uint64(len(ids))+1, f.Head)
		if err != nil {
			return ids, err
		}
		if len(evs) == 0 {
			return ids, fmt.Errorf("head is %d, Read(%d, %d) returned nothing", f.Head, len(ids)+1, f.Head)
		}
		for _, e := range evs {
			if e.Seq != uint64(len(ids))+1 {
				return ids, fmt.Errorf("got seq %d after %d", e.Seq, len(ids))
			}
			ids = append(ids, e.ID)
		}
	}
}

// TestLongTransactions: an open transaction older than a run of full
// batches (more events, or more bytes, than one round moves) still gets
// its event in when it commits, after them; and a long open transaction
// that wrote nothing holds nothing up.
func TestLongTransactions(t *testing.T) {
	for _, size := range []int{10, 10 << 10} {
		t.Run(fmt.Sprintf("data=%d", size), func(t *testing.T) { testLongTransactions(t, size) })
	}
}

func testLongTransactions(t *testing.T, size int) {
	const maxBytes = 64 << 10
	l, err := Open(context.Background(), testDSN(t), Options{Schema: newSchema(t), Logger: testLogger(t), batchBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pool := adminPool(t)
	ctx := context.Background()

	reader, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback(ctx)
	if _, err := reader.Exec(ctx, "SELECT 1"); err != nil { // hold a snapshot
		t.Fatal(err)
	}
	old := begin(t, pool)
	appendTx(t, l, old, testEvent("big", "old"))

	n := 2*batchSize + 500
	if size*n > 2*maxBytes {
		n = 2*maxBytes/size + 1
	}
	var big []eventfeed.Event
	for i := range n {
		e := testEvent("big", fmt.Sprintf("e%04d", i))
		e.Data = make([]byte, size)
		e.ContentType = "application/octet-stream" // zero bytes are not JSON
		big = append(big, e)
	}
	tx := begin(t, pool)
	appendTx(t, l, tx, big...)
	commit(t, tx)
	waitHead(t, l, "big", uint64(n))
	commit(t, old)
	waitHead(t, l, "big", uint64(n+1))
	ids := readIDs(t, l, "big")
	for i, id := range ids[:n] {
		if id != big[i].ID {
			t.Fatalf("seq %d holds %s, want %s", i+1, id, big[i].ID)
		}
	}
	if ids[n] != "old" {
		t.Errorf("seq %d holds %s, want the old transaction's event, committed last", n+1, ids[n])
	}
}
