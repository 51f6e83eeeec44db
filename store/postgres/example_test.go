package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The examples need a PostgreSQL server, so they have no Output comment
// for go test to check: TestExamples runs them against the test server
// and checks what they print instead.

// A service stores an order and the event that announces it in one
// transaction: both are committed, or neither. The sequencer gives the
// event its seq once the transaction commits.
func Example_outbox() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("EVENTFEED_POSTGRES_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	events, err := postgres.New(ctx, pool, postgres.Options{Schema: "example_shop"})
	if err != nil {
		log.Fatal(err)
	}
	defer events.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS example_shop.orders (id text PRIMARY KEY, total integer NOT NULL)`); err != nil {
		log.Fatal(err)
	}

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO example_shop.orders (id, total) VALUES ($1, $2)`, "o-42", 4200); err != nil {
			return err
		}
		return events.AppendTx(ctx, tx, eventfeed.Event{
			Feed:    "orders",
			ID:      "urn:uuid:8a4c2a55-6b1e-4a8e-9a35-4b1f8e0c2d42",
			Type:    "order.placed",
			Subject: "o-42",
			Data:    []byte(`{"total":4200}`),
		})
	})
	if err != nil {
		log.Fatal(err)
	}

	// Any instance sharing the log sees the event within milliseconds.
	f, err := events.Wait(ctx, "orders", 0)
	if err != nil {
		log.Fatal(err)
	}
	sequenced, err := events.Read(ctx, "orders", 1, f.Head)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range sequenced {
		fmt.Println(e.Seq, e.Type, e.Subject, string(e.Data))
	}
	// Prints:
	// 1 order.placed o-42 {"total":4200}
}

// One instance of a consuming service at a time follows a source: Lock
// elects it, and its Apply commits only while it holds the lease. The
// poller (github.com/eventfeed/eventfeed/poller) calls Checkpoint and
// Apply the way this example does by hand.
func ExampleReplica_Lock() {
	ctx := context.Background()
	replica, err := postgres.OpenReplica(ctx, os.Getenv("EVENTFEED_POSTGRES_DSN"), postgres.ReplicaOptions{Schema: "example_shipping"})
	if err != nil {
		log.Fatal(err)
	}
	defer replica.Close()

	const source = "https://orders.example/feeds/orders"
	lease, err := replica.Lock(ctx, source)
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release()

	cp, err := replica.Checkpoint(ctx, source)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resume after seq", cp.Seq)
	batch := []eventfeed.Event{
		{Feed: "orders", Seq: 1, ID: "urn:uuid:1", Type: "order.placed", Subject: "o-42", Time: time.Now(), Data: []byte(`{"total":4200}`)},
		{Feed: "orders", Seq: 2, ID: "urn:uuid:2", Type: "order.paid", Subject: "o-42", Time: time.Now(), Data: []byte(`{"paid":4200}`)},
	}
	// Version is that of the checkpoint read: Apply commits only if no
	// one else committed for the source since.
	next := store.Checkpoint{Source: source, Page: source, LastID: "urn:uuid:2", Seq: 2, Version: cp.Version}
	if err := replica.Apply(ctx, next, batch); err != nil {
		log.Fatal(err) // wraps postgres.ErrLeaseLost if another instance took over
	}

	latest, err := replica.Get(ctx, "orders", "o-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("o-42 is", latest.Type)
	// Prints:
	// resume after seq 0
	// o-42 is order.paid
}

func TestExamples(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	schemas := []string{"example_shop", "example_shipping"}
	drop := func() {
		for _, s := range schemas {
			if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+s+" CASCADE"); err != nil {
				t.Fatal(err)
			}
		}
	}
	drop()
	defer drop()
	for _, ex := range []struct {
		name string
		run  func()
		want string
	}{
		{"Example_outbox", Example_outbox, "1 order.placed o-42 {\"total\":4200}\n"},
		{"ExampleReplica_Lock", ExampleReplica_Lock, "resume after seq 0\no-42 is order.paid\n"},
	} {
		if got := stdout(t, ex.run); got != ex.want {
			t.Errorf("%s printed %q, want %q", ex.name, got, ex.want)
		}
	}
}

// stdout returns what f prints on os.Stdout.
func stdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		var b strings.Builder
		io.Copy(&b, r)
		out <- b.String()
	}()
	defer func() {
		os.Stdout = saved
	}()
	f()
	w.Close()
	return <-out
}
