package sqlite_test

import (
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
