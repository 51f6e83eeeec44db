package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchWriters is how many business transactions run at once.
const benchWriters = 16

// BenchmarkWriters runs 16 concurrent business transactions of one event
// each, all to one feed, two ways:
//
//   - outbox: this package; AppendTx in the business transaction, the
//     sequencer moves it into the log. lag-p50-ms and lag-p99-ms are the
//     time from the writer's commit to a Wait on the Log returning the
//     event.
//   - outbox-wakeoncommit: the same with Options.WakeOnCommit, whose
//     NOTIFY in every business transaction serialises their commits.
//   - rowlock: the usual alternative, written here only for comparison;
//     the business transaction takes the feed's next seq with
//     UPDATE … SET head = head + 1 … RETURNING and inserts the event,
//     holding the feed's row lock until it commits. Its events are
//     visible at commit.
//
// work is what the business transaction does after appending (sleeping
// stands for calls and queries), while the row lock, in the second design,
// is held. rate=max runs the writers flat out; rate=1000 paces them to
// 1,000 transactions per second in all, to show the lag of a sequencer
// that is not saturated.
func BenchmarkWriters(b *testing.B) {
	type load struct {
		work time.Duration
		rate int // transactions per second in all; 0 is as fast as possible
	}
	for _, ld := range []load{{0, 0}, {2 * time.Millisecond, 0}, {0, 1000}} {
		rate := "max"
		if ld.rate > 0 {
			rate = fmt.Sprint(ld.rate)
		}
		for _, design := range []string{"outbox", "outbox-wakeoncommit", "rowlock"} {
			b.Run(fmt.Sprintf("design=%s/work=%v/rate=%s", design, ld.work, rate), func(b *testing.B) {
				if design == "rowlock" {
					benchRowLock(b, ld.work, ld.rate)
				} else {
					benchOutbox(b, ld.work, ld.rate, design == "outbox-wakeoncommit")
				}
			})
		}
	}
}

// benchDSN returns a DSN whose pool is big enough for every writer at
// once.
func benchDSN(b *testing.B) string {
	return strings.Replace(testDSN(b), "pool_max_conns=8", fmt.Sprintf("pool_max_conns=%d", benchWriters+4), 1)
}

var benchData = []byte(`{"order":"o-123456","amount":4200,"currency":"EUR","lines":3}`)

// runWriters runs n transactions on benchWriters goroutines, each
// transaction calling body with its number, then doing work, and returns
// the time each commit returned and the elapsed time. A rate above zero
// paces the transactions to that many per second in all.
func runWriters(b *testing.B, pool *pgxpool.Pool, n int, work time.Duration, rate int, body func(ctx context.Context, tx pgx.Tx, i int) error) ([]time.Time, time.Duration) {
	b.Helper()
	committed := make([]time.Time, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	var tokens <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		tokens = t.C
	}
	start := time.Now()
	for range benchWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if tokens != nil {
					<-tokens
				}
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					if err := body(ctx, tx, i); err != nil {
						return err
					}
					if work > 0 {
						time.Sleep(work)
					}
					return nil
				})
				committed[i] = time.Now()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return committed, elapsed
}

func benchOutbox(b *testing.B, work time.Duration, rate int, wake bool) {
	schema := newSchema(b)
	l, err := Open(context.Background(), benchDSN(b), Options{Schema: schema, WakeOnCommit: wake, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	n := b.N
	visible := make([]time.Time, n)
	followed := make(chan error, 1)
	go func() {
		followed <- func() error {
			ctx := context.Background()
			var head uint64
			for head < uint64(n) {
				f, err := l.Wait(ctx, "bench", head)
				if err != nil {
					return err
				}
				now := time.Now()
				evs, err := l.Read(ctx, "bench", head+1, f.Head)
				if err != nil {
					return err
				}
				for _, e := range evs {
					var i int
					fmt.Sscanf(e.ID, "b%d", &i)
					visible[i] = now
				}
				head += uint64(len(evs))
			}
			return nil
		}()
	}()
	b.SetBytes(int64(len(benchData)))
	b.ReportAllocs()
	b.ResetTimer()
	committed, elapsed := runWriters(b, l.pool, n, work, rate, func(ctx context.Context, tx pgx.Tx, i int) error {
		return l.AppendTx(ctx, tx, eventfeed.Event{Feed: "bench", ID: fmt.Sprintf("b%d", i), Type: "order.placed", Subject: "o-123456", Data: benchData})
	})
	if err := <-followed; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	lags := make([]time.Duration, n)
	for i := range lags {
		lags[i] = max(visible[i].Sub(committed[i]), 0)
	}
	slices.Sort(lags)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lags[n/2].Microseconds())/1000, "lag-p50-ms")
	b.ReportMetric(float64(lags[n*99/100].Microseconds())/1000, "lag-p99-ms")
}

func benchRowLock(b *testing.B, work time.Duration, rate int) {
	schema := newSchema(b)
	pool, err := pgxpool.New(context.Background(), benchDSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	s := pgx.Identifier{schema}.Sanitize()
	if _, err := pool.Exec(context.Background(), fmt.Sprintf(`CREATE SCHEMA %[1]s;
CREATE TABLE %[1]s.feeds (name text PRIMARY KEY, head bigint NOT NULL);
CREATE TABLE %[1]s.events (feed text NOT NULL, seq bigint NOT NULL, id text NOT NULL UNIQUE, type text NOT NULL,
	subject text NOT NULL, time timestamptz NOT NULL, data bytea NOT NULL, PRIMARY KEY (feed, seq));
INSERT INTO %[1]s.feeds VALUES ('bench', 0)`, s)); err != nil {
		b.Fatal(err)
	}
	next := fmt.Sprintf(`UPDATE %s.feeds SET head = head + 1 WHERE name = $1 RETURNING head`, s)
	insert := fmt.Sprintf(`INSERT INTO %s.events VALUES ($1, $2, $3, $4, $5, now(), $6)`, s)
	b.SetBytes(int64(len(benchData)))
	b.ReportAllocs()
	b.ResetTimer()
	_, elapsed := runWriters(b, pool, b.N, work, rate, func(ctx context.Context, tx pgx.Tx, i int) error {
		var seq int64
		if err := tx.QueryRow(ctx, next, "bench").Scan(&seq); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, insert, "bench", seq, fmt.Sprintf("b%d", i), "order.placed", "o-123456", benchData)
		return err
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkApply applies pages of 100 events, as a poller catching up
// does, with the ready Latest projection (one statement per page) and
// with a projection that runs one statement per event.
func BenchmarkApply(b *testing.B) {
	for _, name := range []string{"latest", "per-event"} {
		b.Run("projection="+name, func(b *testing.B) {
			schema := newSchema(b)
			var project Projection
			if name == "per-event" {
				project = Latest(schema)
			}
			r, err := OpenReplica(context.Background(), testDSN(b), ReplicaOptions{Schema: schema, Projection: project})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			const page = 100
			events := make([]eventfeed.Event, page)
			b.SetBytes(int64(page * len(benchData)))
			b.ReportAllocs()
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				for j := range events {
					seq := i*page + j + 1
					events[j] = eventfeed.Event{Feed: "orders", Seq: uint64(seq), ID: fmt.Sprintf("e%d", seq), Type: "order.placed",
						Subject: fmt.Sprintf("o-%d", seq%500), Time: start, Data: benchData}
				}
				cp := store.Checkpoint{Source: "https://orders.example/feeds/orders", Page: "p", LastID: events[page-1].ID, Seq: uint64((i + 1) * page), Version: uint64(i)}
				if err := r.Apply(context.Background(), cp, events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*page)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkDrain measures the sequencer alone: b.N events wait in the
// outbox, committed one per transaction by 16 writers of an instance that
// does not sequence, and the timer runs while an instance that does
// opens and moves them all into the log (rounds of batchSize rows).
// Its events/s is the most the sequencer moves with no writer beside it.
func BenchmarkDrain(b *testing.B) {
	schema := newSchema(b)
	ctx := context.Background()
	w, err := Open(ctx, benchDSN(b), Options{Schema: schema, NoSequencer: true, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	n := b.N
	runWriters(b, w.pool, n, 0, 0, func(ctx context.Context, tx pgx.Tx, i int) error {
		return w.AppendTx(ctx, tx, eventfeed.Event{Feed: "bench", ID: fmt.Sprintf("b%d", i), Type: "order.placed", Subject: "o-123456", Data: benchData})
	})
	b.SetBytes(int64(len(benchData)))
	b.ResetTimer()
	start := time.Now()
	l, err := Open(ctx, testDSN(b), Options{Schema: schema, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Wait(ctx, "bench", uint64(n-1)); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
}
