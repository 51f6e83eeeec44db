package poller_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// A publisher serves a log's feed; a Poller catches up with it into a
// replica, and a second Sync applies only what was appended since.
func ExamplePoller_Sync() {
	ctx := context.Background()
	events := memory.NewLog(memory.Options{PageSize: 2})
	h, err := publisher.New(events, publisher.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	appendOrder := func(id, data string) {
		ev := eventfeed.Event{Feed: "orders", ID: id, Type: "order.placed", Subject: id, Data: []byte(data)}
		if _, err := events.Append(ctx, ev); err != nil {
			log.Fatal(err)
		}
	}
	appendOrder("order-1", `{"total":10}`)
	appendOrder("order-2", `{"total":25}`)
	appendOrder("order-3", `{"total":7}`)

	replica := memory.NewReplica(func(ev eventfeed.Event) error {
		fmt.Printf("%s %d %s %s %s\n", ev.Feed, ev.Seq, ev.Type, ev.Subject, ev.Data)
		return nil
	})
	p, err := poller.New(srv.URL+"/feeds/orders", replica, poller.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Sync(ctx); err != nil {
		log.Fatal(err)
	}
	appendOrder("order-4", `{"total":3}`)
	if err := p.Sync(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied:", p.Stats().Events)
	// Output:
	// orders 1 order.placed order-1 {"total":10}
	// orders 2 order.placed order-2 {"total":25}
	// orders 3 order.placed order-3 {"total":7}
	// orders 4 order.placed order-4 {"total":3}
	// applied: 4
}
