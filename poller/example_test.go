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

// A Poller opens the events of an encrypted feed with their subjects'
// keys, fetched from the publisher with a key token. After a subject is
// erased, a new consumer receives its events with no data, and every
// consumer receives its tombstone.
func ExampleConfig_keyToken() {
	ctx := context.Background()
	events := memory.NewLog(memory.Options{Encrypt: true})
	h, err := publisher.New(events, publisher.Config{
		AuthorizeKeys: func(r *http.Request, feed string) error {
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				return publisher.ErrUnauthorized
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	_, err = events.Append(ctx,
		eventfeed.Event{Feed: "customers", ID: "urn:c:1", Type: "customer.registered", Subject: "customer-7", Data: []byte(`{"name":"Ada"}`)},
		eventfeed.Event{Feed: "customers", ID: "urn:c:2", Type: "customer.registered", Subject: "customer-8", Data: []byte(`{"name":"Charles"}`)})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := events.Erase(ctx, "customers", "customer-7"); err != nil {
		log.Fatal(err)
	}

	replica := memory.NewReplica(func(ev eventfeed.Event) error {
		switch {
		case ev.Erased():
			fmt.Println(ev.Seq, ev.Subject, "erased")
		default:
			fmt.Println(ev.Seq, ev.Subject, ev.Type, string(ev.Data))
		}
		return nil
	})
	p, err := poller.New(srv.URL+"/feeds/customers", replica, poller.Config{KeyToken: "s3cret"})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Sync(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 1 customer-7 erased
	// 2 customer-8 customer.registered {"name":"Charles"}
	// 3 customer-7 eventfeed.erased
}
