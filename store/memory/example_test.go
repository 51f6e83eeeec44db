package memory_test

import (
	"context"
	"fmt"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

func ExampleNewLog() {
	ctx := context.Background()
	log := memory.NewLog(memory.Options{PageSize: 50})
	defer log.Close()

	stored, err := log.Append(ctx,
		eventfeed.Event{Feed: "orders", ID: "urn:uuid:1", Type: "order.placed", Subject: "order-1", Data: []byte(`{"total":12}`)},
		eventfeed.Event{Feed: "orders", ID: "urn:uuid:2", Type: "order.paid", Subject: "order-1", Data: []byte(`{}`)},
	)
	if err != nil {
		panic(err)
	}
	fmt.Println("stored at", stored[0].Seq, stored[1].Seq)

	f, _ := log.Feed(ctx, "orders")
	fmt.Println("head", f.Head, "page size", f.PageSize)

	events, _ := log.Read(ctx, "orders", 2, 10)
	for _, e := range events {
		fmt.Println(e.Seq, e.Type, e.Subject)
	}
	// Output:
	// stored at 1 2
	// head 2 page size 50
	// 2 order.paid order-1
}

func ExampleNewReplica() {
	ctx := context.Background()
	totals := make(map[string]int)
	replica := memory.NewReplica(func(e eventfeed.Event) error {
		totals[e.Subject]++
		return nil
	})

	cp := store.Checkpoint{Source: "https://shop.example/feeds/orders", LastID: "urn:uuid:2", Seq: 2}
	err := replica.Apply(ctx, cp, []eventfeed.Event{
		{ID: "urn:uuid:1", Type: "order.placed", Subject: "order-1"},
		{ID: "urn:uuid:2", Type: "order.paid", Subject: "order-1"},
	})
	if err != nil {
		panic(err)
	}
	got, _ := replica.Checkpoint(ctx, cp.Source)
	fmt.Println("events for order-1:", totals["order-1"])
	fmt.Println("checkpoint:", got.LastID, got.Seq)
	fmt.Println("applied:", len(replica.Applied()))
	// Output:
	// events for order-1: 2
	// checkpoint: urn:uuid:2 2
	// applied: 2
}
