// Command demo runs the orders and shipping examples in one process and
// narrates, step by step, how shipping keeps its own replica of the orders
// feed: events arrive within milliseconds, shipping answers while orders
// is down, and after a restart it resumes from its checkpoint.
//
//	go run ./examples/demo
//
// Both services listen on loopback ports of their own and keep their data
// in temporary SQLite files, removed at the end. Every step is checked:
// the demo exits with status 1 and says which step failed if one did not
// happen as narrated.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// stepTimeout bounds each wait: for a service to start or stop, for an
// answer, for shipping to apply an event.
const stepTimeout = 10 * time.Second

// run plays the demo, writing its narration to w.
func run(ctx context.Context, w io.Writer) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "eventfeed-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := newDemo(dir)
	defer d.stopAll()

	// Orders starts and takes a first order. (Its feed exists from its
	// first event on.)
	orders, err := d.startOrders(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "orders:   %s, publishing its events at /feeds/orders\n", orders.url)
	if err := d.placeOrder(ctx, orders.url, 1); err != nil {
		return err
	}
	fmt.Fprintln(w, "placed order 1")

	// Shipping starts and reads the feed from its beginning.
	feedURL := orders.url + "/feeds/orders"
	sent := time.Now()
	shipping, err := d.startShipping(ctx, feedURL)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "shipping: %s, following that feed into its own SQLite replica\n", shipping.url)
	delay, err := d.seen.wait(ctx, "order.placed", 1, sent)
	if err != nil {
		return err
	}
	if err := d.expectShipment(ctx, shipping.url, 1, "pending"); err != nil {
		return err
	}
	fmt.Fprintf(w, "shipping read order 1 %v after it started: GET /shipments/1 → 200 pending\n", round(delay))

	// New orders (and a cancellation) reach shipping within
	// milliseconds: it long-polls the feed.
	sent = time.Now()
	if err := d.placeOrder(ctx, orders.url, 2); err != nil {
		return err
	}
	if delay, err = d.seen.wait(ctx, "order.placed", 2, sent); err != nil {
		return err
	}
	if err := d.expectShipment(ctx, shipping.url, 2, "pending"); err != nil {
		return err
	}
	fmt.Fprintf(w, "placed order 2; shipping had it %v later: GET /shipments/2 → 200 pending\n", round(delay))
	sent = time.Now()
	if err := d.cancelOrder(ctx, orders.url, 2); err != nil {
		return err
	}
	if delay, err = d.seen.wait(ctx, "order.cancelled", 2, sent); err != nil {
		return err
	}
	if err := d.expectShipment(ctx, shipping.url, 2, "cancelled"); err != nil {
		return err
	}
	fmt.Fprintf(w, "cancelled order 2; shipping had it %v later: GET /shipments/2 → 200 cancelled\n", round(delay))

	// Orders goes down; shipping answers from its replica all the same.
	if err := orders.stop(); err != nil {
		return fmt.Errorf("stop orders: %w", err)
	}
	if err := d.expectShipment(ctx, shipping.url, 1, "pending"); err != nil {
		return fmt.Errorf("with orders stopped: %w", err)
	}
	fmt.Fprintln(w, "stopped orders; shipping still answers from its replica: GET /shipments/1 → 200 pending")

	// Shipping goes down; orders comes back and takes more orders,
	// which wait in its feed.
	before, err := d.status(ctx, shipping.url)
	if err != nil {
		return err
	}
	if before.Seq != 3 {
		return fmt.Errorf("shipping's checkpoint is at seq %d before it stops, want 3 (the events so far)", before.Seq)
	}
	if err := shipping.stop(); err != nil {
		return fmt.Errorf("stop shipping: %w", err)
	}
	addr := orders.addr // shipping knows orders by its URL
	if orders, err = d.startOrders(ctx, addr); err != nil {
		return fmt.Errorf("restart orders on %s: %w", addr, err)
	}
	for _, id := range []int64{3, 4} {
		if err := d.placeOrder(ctx, orders.url, id); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "stopped shipping at seq %d; restarted orders and placed orders 3 and 4 while shipping was down\n", before.Seq)

	// Shipping comes back and applies only what it missed.
	sent = time.Now()
	if shipping, err = d.startShipping(ctx, feedURL); err != nil {
		return fmt.Errorf("restart shipping: %w", err)
	}
	delay, err = d.seen.wait(ctx, "order.placed", 4, sent)
	if err != nil {
		return err
	}
	after, err := d.waitStatus(ctx, shipping.url, 5)
	if err != nil {
		return err
	}
	if missed := after.Seq - before.Seq; after.Applied != missed {
		return fmt.Errorf("shipping applied %d events after its restart, want %d: it did not resume from its checkpoint", after.Applied, missed)
	}
	if err := d.expectShipment(ctx, shipping.url, 4, "pending"); err != nil {
		return err
	}
	fmt.Fprintf(w, "restarted shipping: it resumed after seq %d and applied only the %d events it missed (of %d) in %v: GET /shipments/4 → 200 pending\n",
		before.Seq, after.Applied, after.Seq, round(delay))

	if err := d.stopAll(); err != nil {
		return err
	}
	fmt.Fprintf(w, "all steps checked in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// round keeps three significant figures or so of a short duration.
func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
