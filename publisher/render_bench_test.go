package publisher

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store/memory"
)

// BenchmarkWorkingPageRender renders a full working page of 100 and 500
// entries (about 300 bytes of JSON each) as the publisher does after an
// append: read from the log, build the entries, encode, gzip, hash.
func BenchmarkWorkingPageRender(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			ctx := context.Background()
			log := memory.NewLog(memory.Options{PageSize: n + 1})
			defer log.Close()
			data := []byte(`{"order":"order-000000","customer":{"id":"c-123456","name":"Ada Lovelace","email":"ada@example.com"},` +
				`"lines":[{"sku":"sku-1","qty":2,"price":"12.50"},{"sku":"sku-2","qty":1,"price":"99.00"}],` +
				`"total":"124.00","currency":"EUR","shipping":{"street":"1 Main St","city":"Springfield","zip":"12345"}}`)
			t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
			for i := 1; i <= n; i++ {
				if _, err := log.Append(ctx, eventfeed.Event{
					Feed: "orders", ID: fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i),
					Type: "order.placed", Subject: fmt.Sprintf("order-%d", i), Time: t0.Add(time.Duration(i) * time.Millisecond), Data: data,
				}); err != nil {
					b.Fatal(err)
				}
			}
			h, err := New(log, Config{})
			if err != nil {
				b.Fatal(err)
			}
			f, err := log.Feed(ctx, "orders")
			if err != nil {
				b.Fatal(err)
			}
			d := h.newHeadDocs(f)
			r, err := h.renderPage(ctx, f, 1, subscriptionDoc, formatAtom, d.docs[subscription][formatAtom].etag[identity][0])
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(r.body[identity])))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.renderPage(ctx, f, 1, subscriptionDoc, formatAtom, d.docs[subscription][formatAtom].etag[identity][0]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(len(r.body[gzipped])), "gzip-bytes")
		})
	}
}
