package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// idOrders are the two kinds of event IDs the append benchmarks use:
// random ones (UUID version 4), which land all over the ID index, and
// time-ordered ones (like UUID version 7), which land at its end.
var idOrders = []struct {
	name string
	id   func(n int) string
}{
	{"random", func(int) string { return fmt.Sprintf("urn:uuid:%016x-%016x", rand.Uint64(), rand.Uint64()) }},
	{"ordered", func(n int) string { return fmt.Sprintf("urn:uuid:%016x-%016x", n, rand.Uint64()) }},
}

// benchEvent returns a typical event, with about 300 bytes of JSON.
func benchEvent(feed, id string, n int) eventfeed.Event {
	return eventfeed.Event{
		Feed:    feed,
		ID:      id,
		Type:    "order.placed",
		Subject: fmt.Sprintf("order-%d", n),
		Data:    fmt.Appendf(nil, `{"order":"order-%d","customer":"customer-%d","lines":[{"sku":"sku-1","qty":2,"price":"12.50"},{"sku":"sku-2","qty":1,"price":"7.00"}],"total":"32.00","currency":"EUR","shipping":{"street":"Main Street 1","city":"Springfield","zip":"12345"}}`, n, n%1000),
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	for _, ids := range idOrders {
		for _, size := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/%d", ids.name, size), func(b *testing.B) {
				l := openLog(b, "", sqlite.Options{})
				batch := make([]eventfeed.Event, size)
				n := 0
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					for i := range batch {
						batch[i] = benchEvent("orders", ids.id(n), n)
						n++
					}
					b.StartTimer()
					if _, err := l.Append(context.Background(), batch...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func BenchmarkAppendSingle(b *testing.B) {
	for _, ids := range idOrders {
		b.Run(ids.name, func(b *testing.B) {
			l := openLog(b, "", sqlite.Options{})
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(context.Background(), benchEvent("orders", ids.id(n), n)); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkRead(b *testing.B) {
	l := openLog(b, "", sqlite.Options{})
	const total = 10000
	for start := 0; start < total; start += 1000 {
		batch := make([]eventfeed.Event, 1000)
		for i := range batch {
			batch[i] = benchEvent("orders", idOrders[0].id(start+i), start+i)
		}
		if _, err := l.Append(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	for _, page := range []int{100, 500} {
		b.Run(fmt.Sprint(page), func(b *testing.B) {
			b.ReportAllocs()
			var bytes int64
			k := 0
			for b.Loop() {
				from := uint64(k*page%total + 1)
				k++
				events, err := l.Read(context.Background(), "orders", from, from+uint64(page)-1)
				if err != nil || len(events) != page {
					b.Fatalf("Read = %d events, %v; want %d", len(events), err, page)
				}
				if bytes == 0 {
					for _, e := range events {
						bytes += int64(len(e.Data))
					}
					b.SetBytes(bytes)
				}
			}
			b.ReportMetric(float64(k*page)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkFeedHead(b *testing.B) {
	l := openLog(b, "", sqlite.Options{})
	if _, err := l.Append(context.Background(), benchEvent("orders", "1", 1)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if f, err := l.Feed(ctx, "orders"); err != nil || f.Head != 1 {
				b.Fatalf("Feed = %+v, %v", f, err)
			}
		}
	})
}

// BenchmarkAppendTx appends single events through the transactional
// outbox, each in a transaction of its own that also writes a business row,
// as a service storing an order and its event does.
func BenchmarkAppendTx(b *testing.B) {
	ctx := context.Background()
	l := openLog(b, "", sqlite.Options{})
	db := l.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total TEXT NOT NULL) STRICT`); err != nil {
		b.Fatal(err)
	}
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, total) VALUES (?, ?)`, fmt.Sprintf("order-%d", n), "32.00"); err != nil {
			b.Fatal(err)
		}
		if _, err := l.AppendTx(ctx, tx, benchEvent("orders", idOrders[1].id(n), n)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendEncrypted appends the same events to a log that encrypts
// and to one that does not, alternating, and reports the throughput of
// each and their ratio (encrypted ÷ unencrypted). Alternating spreads the
// machine's other load over both. Subjects are either new with each event
// (each makes a key: the worst case) or recurring, drawn from 1000 that
// already have their keys (an order placed, then paid, then shipped).
func BenchmarkAppendEncrypted(b *testing.B) {
	for _, subjects := range []string{"new", "recurring"} {
		for _, size := range []int{1, 100} {
			name := "single"
			if size > 1 {
				name = fmt.Sprintf("batch-%d", size)
			}
			b.Run(subjects+"/"+name, func(b *testing.B) {
				ctx := context.Background()
				logs := [2]*sqlite.Log{openLog(b, "", sqlite.Options{}), openLog(b, "", sqlite.Options{Encrypt: true})}
				const known = 1000
				n := 0
				next := func() eventfeed.Event {
					e := benchEvent("orders", idOrders[1].id(n), n)
					if subjects == "recurring" {
						e.Subject = fmt.Sprintf("order-%d", rand.IntN(known))
					}
					n++
					return e
				}
				if subjects == "recurring" {
					batch := make([]eventfeed.Event, known)
					for i := range batch {
						batch[i] = benchEvent("orders", idOrders[1].id(n), i)
						n++
					}
					for _, l := range logs {
						if _, err := l.Append(ctx, batch...); err != nil {
							b.Fatal(err)
						}
					}
				}
				var spent [2]time.Duration
				batch := make([]eventfeed.Event, size)
				appended := 0
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					for i := range batch {
						batch[i] = next()
					}
					b.StartTimer()
					for k, l := range logs {
						start := time.Now()
						if _, err := l.Append(ctx, batch...); err != nil {
							b.Fatal(err)
						}
						spent[k] += time.Since(start)
					}
					appended += size
				}
				plain, sealed := float64(appended)/spent[0].Seconds(), float64(appended)/spent[1].Seconds()
				b.ReportMetric(plain, "plain-events/s")
				b.ReportMetric(sealed, "sealed-events/s")
				b.ReportMetric(sealed/plain, "ratio")
			})
		}
	}
}
