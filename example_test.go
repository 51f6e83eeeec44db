package eventfeed_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// A service publishes its events: it appends them to a log, here an SQLite
// file, and serves the log as Atom feeds under /feeds/.
func Example_publisher() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eventfeed-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	events, err := sqlite.Open(ctx, filepath.Join(dir, "orders.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()
	h, err := publisher.New(events, publisher.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	srv := httptest.NewServer(mux) // or http.ListenAndServe(addr, mux)
	defer srv.Close()

	_, err = events.Append(ctx, eventfeed.Event{
		Feed: "orders", ID: "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
		Type: "order.placed", Subject: "order-42", Data: []byte(`{"total":42}`),
	})
	if err != nil {
		log.Fatal(err)
	}

	resp, err := http.Get(srv.URL + "/feeds/orders")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
	// Output: 200 OK application/atom+xml
}

// A consuming service follows another's feed into a local SQLite replica,
// whose ready projection keeps the latest event of each subject, and answers
// from the replica alone.
func Example_poller() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eventfeed-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv := startOrders(ctx, dir) // a publisher, as in Example_publisher
	defer srv.Close()

	replica, err := sqlite.OpenReplica(ctx, filepath.Join(dir, "replica.db"), sqlite.ReplicaOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer replica.Close()
	p, err := poller.New(srv.URL+"/feeds/orders", replica, poller.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Sync(ctx); err != nil { // catch up once; p.Run(ctx) keeps following
		log.Fatal(err)
	}
	order, err := replica.Get(ctx, "orders", "order-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s\n", order.Type, order.Data)
	// Output: order.placed {"total":42}
}

// startOrders serves a feed "orders" holding one event about order-42.
func startOrders(ctx context.Context, dir string) *httptest.Server {
	events, err := sqlite.Open(ctx, filepath.Join(dir, "orders.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = events.Append(ctx, eventfeed.Event{
		Feed: "orders", ID: "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
		Type: "order.placed", Subject: "order-42", Data: []byte(`{"total":42}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	h, err := publisher.New(events, publisher.Config{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.RegisterOnShutdown(h.Close)
	srv.Start()
	return srv
}
