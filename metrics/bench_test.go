package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/metrics"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// BenchmarkInstrument serves a cached archive page straight from the
// publisher and through Instrument: what counting by kind and status adds
// to the cheapest request there is.
func BenchmarkInstrument(b *testing.B) {
	ctx := context.Background()
	log := memory.NewLog(memory.Options{PageSize: 100})
	events := make([]eventfeed.Event, 150)
	for i := range events {
		events[i] = eventfeed.Event{Feed: "orders", ID: fmt.Sprintf("urn:x:%d", i), Type: "t", Data: []byte(`{"n":1}`)}
	}
	if _, err := log.Append(ctx, events...); err != nil {
		b.Fatal(err)
	}
	f, _ := log.Feed(ctx, "orders")
	pub, err := publisher.New(log, publisher.Config{Prefix: "/feeds"})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	pc := metrics.NewPublisherCollector(pub)
	path := fmt.Sprintf("/feeds/orders/%s/pages/1", f.Epoch)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"plain", pub},
		{"instrumented", pc.Instrument("/feeds", pub)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := httptest.NewRecorder()
					tc.h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Errorf("status %d", w.Code)
						return
					}
				}
			})
		})
	}
}
