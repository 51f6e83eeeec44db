// Command orders runs the orders example service: an HTTP API that stores
// orders in SQLite and publishes order.placed and order.cancelled events as
// an Atom feed, each event written in the same transaction as its order
// (the transactional outbox). See package examples/internal/orders.
//
//	go run ./examples/orders [-addr 127.0.0.1:8070] [-db orders.db]
//
// It listens on 8070, beside "eventfeed serve" on 8080. GET / lists the
// endpoints. Then, in another terminal:
//
//	curl -i localhost:8070/orders -H 'Content-Type: application/json' \
//	     -d '{"customer":"Ada","address":"1 Loop Road","items":[{"sku":"book-42","quantity":1}]}'
//	curl -i localhost:8070/orders/1
//	curl -i -X POST localhost:8070/orders/1/cancel
//	curl localhost:8070/feeds/orders
//
// Interrupt it (Ctrl-C) to stop it gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/eventfeed/eventfeed/examples/internal/orders"
	"github.com/eventfeed/eventfeed/examples/internal/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8070", "address to listen on")
	db := flag.String("db", "orders.db", "SQLite file holding the orders and their events")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *db); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, db string) error {
	svc, err := orders.Open(ctx, db, orders.Config{Logger: slog.Default()})
	if err != nil {
		return err
	}
	defer svc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	slog.Info("orders listening", "url", "http://"+ln.Addr().String(), "feed", "http://"+ln.Addr().String()+orders.FeedPath, "db", db)
	return server.Serve(ctx, ln, svc, svc.EndLongPolls)
}
