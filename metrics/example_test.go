package metrics_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/metrics"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// A poller's metrics after it caught up with a feed of three events. A
// service would serve reg with promhttp.HandlerFor(reg,
// promhttp.HandlerOpts{}) at /metrics.
func Example() {
	ctx := context.Background()
	log := memory.NewLog(memory.Options{})
	for _, id := range []string{"urn:x:1", "urn:x:2", "urn:x:3"} {
		log.Append(ctx, eventfeed.Event{Feed: "orders", ID: id, Type: "order.placed", Data: []byte(`{}`)})
	}
	pub, _ := publisher.New(log, publisher.Config{})
	defer pub.Close()
	srv := httptest.NewServer(pub)
	defer srv.Close()

	p, _ := poller.New(srv.URL+"/orders", memory.NewReplica(nil), poller.Config{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewPollerCollector(p), metrics.NewPublisherCollector(pub))
	if err := p.Sync(ctx); err != nil {
		fmt.Println(err)
		return
	}

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "eventfeed_poller_entries_applied_total", "eventfeed_poller_lag_events", "eventfeed_poller_caught_up":
			m := mf.GetMetric()[0]
			fmt.Printf("%s{feed=%q} %v\n", mf.GetName(), m.GetLabel()[0].GetValue(), m.GetCounter().GetValue()+m.GetGauge().GetValue())
		}
	}
	// Output:
	// eventfeed_poller_caught_up{feed="orders"} 1
	// eventfeed_poller_entries_applied_total{feed="orders"} 3
	// eventfeed_poller_lag_events{feed="orders"} 0
}
