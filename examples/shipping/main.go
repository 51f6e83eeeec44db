// Command shipping runs the shipping example service: it follows the
// orders feed into its own SQLite replica and answers GET
// /shipments/{orderID} from that replica alone, whether or not the orders
// service is up. See package examples/internal/shipping.
//
//	go run ./examples/shipping [-addr 127.0.0.1:8090] [-db shipping.db] -orders http://127.0.0.1:8070/feeds/orders
//
// With the orders example running (go run ./examples/orders), place an
// order there, then:
//
//	curl localhost:8090/               # the endpoints
//	curl -i localhost:8090/shipments/1
//	curl localhost:8090/status
//
// Stop orders and the shipment is still served; start it again and
// shipping catches up. Interrupt shipping (Ctrl-C) to stop it: it resumes
// from its checkpoint when started again.
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

	"golang.org/x/sync/errgroup"

	"github.com/eventfeed/eventfeed/examples/internal/server"
	"github.com/eventfeed/eventfeed/examples/internal/shipping"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	db := flag.String("db", "shipping.db", "SQLite file holding the replica")
	ordersURL := flag.String("orders", "http://127.0.0.1:8070/feeds/orders", "URL of the orders feed")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *db, *ordersURL); err != nil {
		fmt.Fprintln(os.Stderr, "shipping:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, db, ordersURL string) error {
	svc, err := shipping.Open(ctx, db, shipping.Config{Orders: ordersURL, Logger: slog.Default()})
	if err != nil {
		return err
	}
	defer svc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	slog.Info("shipping listening", "url", "http://"+ln.Addr().String(), "orders", ordersURL, "db", db)
	// The poller and the server run side by side; when either fails, or
	// on interrupt, both stop.
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Run(ctx) })
	g.Go(func() error { return server.Serve(ctx, ln, svc, nil) })
	return g.Wait()
}
