package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "eventfeed")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	l, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = l.Append(ctx,
		eventfeed.Event{Feed: "orders", ID: "urn:uuid:8f0c5c1e-4d0e-4a5e-9a47-1d2d3c4b5a61", Type: "order.placed", Subject: "order-1", Data: []byte(`{"total":12}`)},
		eventfeed.Event{Feed: "orders", ID: "urn:uuid:1b7e0d3a-6f58-4b07-8d5a-2f9e1c0a4b72", Type: "order.paid", Subject: "order-1", Data: []byte(`{}`)},
	)
	if err != nil {
		log.Fatal(err)
	}
	events, err := l.Read(ctx, "orders", 1, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range events {
		fmt.Println(e.Seq, e.Type, string(e.Data))
	}
	f, _ := l.Feed(ctx, "orders")
	fmt.Println("head", f.Head, "page size", f.PageSize)
	// Output:
	// 1 order.placed {"total":12}
	// 2 order.paid {}
	// head 2 page size 100
}

// The transactional outbox: the service's own row and the event that
// announces it commit together, or neither does.
func ExampleLog_AppendTx() {
	dir, err := os.MkdirTemp("", "eventfeed")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	l, err := sqlite.Open(ctx, filepath.Join(dir, "shop.db"), sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	db := l.DB()
	if _, err := db.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)`); err != nil {
		log.Fatal(err)
	}

	placeOrder := func(id string, total int) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, total) VALUES (?, ?)`, id, total); err != nil {
			return err
		}
		_, err = l.AppendTx(ctx, tx, eventfeed.Event{
			Feed:    "orders",
			ID:      "urn:example:order-placed:" + id,
			Type:    "order.placed",
			Subject: id,
			Data:    fmt.Appendf(nil, `{"total":%d}`, total),
		})
		if err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		l.Notify() // wake long polls now rather than at the next poll
		return nil
	}
	if err := placeOrder("order-1", 12); err != nil {
		log.Fatal(err)
	}
	if err := placeOrder("order-1", 99); err != nil { // the order exists: nothing is stored
		fmt.Println("refused:", err != nil)
	}

	var orders int
	db.QueryRowContext(ctx, `SELECT count(*) FROM orders`).Scan(&orders)
	events, _ := l.Read(ctx, "orders", 1, 100)
	fmt.Println("orders:", orders, "events:", len(events), string(events[0].Data))
	// Output:
	// refused: true
	// orders: 1 events: 1 {"total":12}
}

func ExampleOpenReplica() {
	dir, err := os.MkdirTemp("", "eventfeed")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	// No Projection: the Latest documents, one per (feed, subject).
	r, err := sqlite.OpenReplica(ctx, filepath.Join(dir, "replica.db"), sqlite.ReplicaOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	const source = "https://shop.example/feeds/orders"
	cp := store.Checkpoint{Source: source, Page: source + "/3f2a/pages/1", LastID: "urn:example:2", Seq: 2}
	err = r.Apply(ctx, cp, []eventfeed.Event{
		{Feed: "orders", Seq: 1, ID: "urn:example:1", Type: "order.placed", Subject: "order-1", Data: []byte(`{"status":"placed"}`)},
		{Feed: "orders", Seq: 2, ID: "urn:example:2", Type: "order.paid", Subject: "order-1", Data: []byte(`{"status":"paid"}`)},
	})
	if err != nil {
		log.Fatal(err)
	}

	doc, err := r.Get(ctx, "orders", "order-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc.Type, string(doc.Data))
	_, err = r.Get(ctx, "orders", "order-2")
	fmt.Println(errors.Is(err, sqlite.ErrNotFound))
	got, _ := r.Checkpoint(ctx, source)
	fmt.Println(got.LastID, got.Seq)
	// Output:
	// order.paid {"status":"paid"}
	// true
	// urn:example:2 2
}

// An encrypted log seals each event of a subject under the subject's own
// key; erasing the subject destroys the key and appends a tombstone, so
// that its events, wherever copies of them are cached, can no longer be
// read.
func ExampleLog_Erase() {
	dir, err := os.MkdirTemp("", "eventfeed")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	l, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"), sqlite.Options{Encrypt: true})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	_, err = l.Append(ctx,
		eventfeed.Event{Feed: "customers", ID: "urn:uuid:4b0f6d2e-1c3a-4e5f-8a9b-0c1d2e3f4a5b", Type: "customer.registered", Subject: "customer-7", Data: []byte(`{"name":"Ada Lovelace"}`)},
		eventfeed.Event{Feed: "customers", ID: "urn:uuid:5c1a7e3f-2d4b-4f60-9bac-1d2e3f4a5b6c", Type: "customer.registered", Subject: "customer-8", Data: []byte(`{"name":"Charles Babbage"}`)},
	)
	if err != nil {
		log.Fatal(err)
	}
	events, err := l.Read(ctx, "customers", 1, 100)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(events[0].Subject, events[0].ContentType, bytes.Contains(events[0].Data, []byte("Ada")))

	tomb, err := l.Erase(ctx, "customers", "customer-7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tomb.Seq, tomb.Type, tomb.Subject)
	if _, err := l.Key(ctx, "customers", "customer-7"); errors.Is(err, eventfeed.ErrErased) {
		fmt.Println("customer-7's key is gone")
	}
	if k, err := l.Key(ctx, "customers", "customer-8"); err == nil {
		fmt.Println("customer-8's key has", len(k.Secret), "bytes")
	}
	// Output:
	// customer-7 application/jose false
	// 3 eventfeed.erased customer-7
	// customer-7's key is gone
	// customer-8's key has 32 bytes
}
