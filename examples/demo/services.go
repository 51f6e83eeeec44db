package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/examples/internal/orders"
	"github.com/eventfeed/eventfeed/examples/internal/server"
	"github.com/eventfeed/eventfeed/examples/internal/shipping"
)

// demo holds what the steps share: the data directory, the services
// running, an HTTP client, and what shipping has applied.
type demo struct {
	dir     string
	client  *http.Client
	seen    *tracker
	running []*service
}

func newDemo(dir string) *demo {
	return &demo{
		dir:    dir,
		client: &http.Client{Timeout: stepTimeout},
		seen:   &tracker{at: make(map[string]time.Time), changed: make(chan struct{})},
	}
}

// service is one of the services, serving in the background.
type service struct {
	addr, url string
	cancel    context.CancelFunc
	done      chan error // the result of serving
	close     func() error

	once sync.Once
	err  error
}

// stop stops the service and waits until it has; it may be called again.
func (s *service) stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(stepTimeout):
			s.err = fmt.Errorf("%s did not stop within %v", s.url, stepTimeout)
			return
		}
		if err := s.close(); s.err == nil {
			s.err = err
		}
	})
	return s.err
}

// stopAll stops every service still running.
func (d *demo) stopAll() error {
	var err error
	for _, s := range d.running {
		if serr := s.stop(); err == nil {
			err = serr
		}
	}
	return err
}

// startOrders starts the orders service on addr, with its data in the
// demo's directory.
func (d *demo) startOrders(ctx context.Context, addr string) (*service, error) {
	svc, err := orders.Open(ctx, filepath.Join(d.dir, "orders.db"), orders.Config{})
	if err != nil {
		return nil, err
	}
	return d.serve(addr, svc.Close, func(ctx context.Context, ln net.Listener) error {
		return server.Serve(ctx, ln, svc, svc.EndLongPolls)
	})
}

// startShipping starts the shipping service on a port of its own,
// following feedURL, with its replica in the demo's directory.
func (d *demo) startShipping(ctx context.Context, feedURL string) (*service, error) {
	svc, err := shipping.Open(ctx, filepath.Join(d.dir, "shipping.db"), shipping.Config{
		Orders:  feedURL,
		Applied: d.seen.record,
	})
	if err != nil {
		return nil, err
	}
	return d.serve("127.0.0.1:0", svc.Close, func(ctx context.Context, ln net.Listener) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return svc.Run(ctx) })
		g.Go(func() error { return server.Serve(ctx, ln, svc, nil) })
		return g.Wait()
	})
}

// serve listens on addr and runs serve in the background until the
// service is stopped; closeSvc then releases the service.
func (d *demo) serve(addr string, closeSvc func() error, serve func(context.Context, net.Listener) error) (*service, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		closeSvc()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{
		addr:   ln.Addr().String(),
		url:    "http://" + ln.Addr().String(),
		cancel: cancel,
		done:   make(chan error, 1),
		close:  closeSvc,
	}
	go func() { s.done <- serve(ctx, ln) }()
	d.running = append(d.running, s)
	return s, nil
}

// placeOrder places an order and checks that the orders service gave it
// the ID want.
func (d *demo) placeOrder(ctx context.Context, ordersURL string, want int64) error {
	body := fmt.Sprintf(`{"customer":"customer %d","address":"%d Loop Road","items":[{"sku":"book-%d","quantity":1}]}`, want, want, want)
	var o orders.Order
	if err := d.call(ctx, "POST", ordersURL+"/orders", body, http.StatusCreated, &o); err != nil {
		return fmt.Errorf("place order %d: %w", want, err)
	}
	if o.ID != want || o.Status != orders.StatusPlaced {
		return fmt.Errorf("place order %d: got order %d %s, want order %d placed", want, o.ID, o.Status, want)
	}
	return nil
}

func (d *demo) cancelOrder(ctx context.Context, ordersURL string, id int64) error {
	var o orders.Order
	if err := d.call(ctx, "POST", fmt.Sprintf("%s/orders/%d/cancel", ordersURL, id), "", http.StatusOK, &o); err != nil {
		return fmt.Errorf("cancel order %d: %w", id, err)
	}
	if o.Status != orders.StatusCancelled {
		return fmt.Errorf("cancel order %d: got status %s, want cancelled", id, o.Status)
	}
	return nil
}

// expectShipment checks that shipping answers 200 for the shipment of
// order id, with the status want.
func (d *demo) expectShipment(ctx context.Context, shippingURL string, id int64, want string) error {
	var sh shipping.Shipment
	if err := d.call(ctx, "GET", fmt.Sprintf("%s/shipments/%d", shippingURL, id), "", http.StatusOK, &sh); err != nil {
		return fmt.Errorf("shipment %d: %w", id, err)
	}
	if sh.OrderID != id || sh.Status != want {
		return fmt.Errorf("shipment %d: got order %d %s, want order %d %s", id, sh.OrderID, sh.Status, id, want)
	}
	return nil
}

func (d *demo) status(ctx context.Context, shippingURL string) (shipping.Status, error) {
	var st shipping.Status
	err := d.call(ctx, "GET", shippingURL+"/status", "", http.StatusOK, &st)
	return st, err
}

// waitStatus waits until shipping reports its checkpoint at seq and the
// events it applied counted, and returns that status.
func (d *demo) waitStatus(ctx context.Context, shippingURL string, seq uint64) (shipping.Status, error) {
	deadline := time.Now().Add(stepTimeout)
	for {
		st, err := d.status(ctx, shippingURL)
		if err != nil {
			return st, err
		}
		if st.Seq == seq && st.Applied > 0 && st.CaughtUp {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("shipping did not reach seq %d within %v: its status is %+v", seq, stepTimeout, st)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// call sends a request with a JSON body (none when empty), checks the
// answer's status and decodes its JSON body into out.
func (d *demo) call(ctx context.Context, method, url, body string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: got %s %s, want %d", method, url, resp.Status, bytes.TrimSpace(b), want)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	return nil
}

// tracker records when shipping's replica committed each event, as told
// by shipping.Config.Applied.
type tracker struct {
	mu      sync.Mutex
	at      map[string]time.Time // by type and subject
	changed chan struct{}        // closed and replaced on every record
}

func (t *tracker) record(events []eventfeed.Event) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range events {
		t.at[ev.Type+" "+ev.Subject] = now
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait waits until shipping has committed the event of type typ about
// order id, and returns how long after since that was.
func (t *tracker) wait(ctx context.Context, typ string, id int64, since time.Time) (time.Duration, error) {
	key := fmt.Sprintf("%s order-%d", typ, id)
	timeout := time.NewTimer(stepTimeout)
	defer timeout.Stop()
	for {
		t.mu.Lock()
		at, ok := t.at[key]
		changed := t.changed
		t.mu.Unlock()
		if ok {
			return at.Sub(since), nil
		}
		select {
		case <-changed:
		case <-timeout.C:
			return 0, fmt.Errorf("shipping did not apply %s within %v", key, stepTimeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
