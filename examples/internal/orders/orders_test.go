package orders_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/examples/internal/orders"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// open opens a service on a new file, and a second Log on the same file
// through which the test sees what was committed, as any other process
// would.
func open(t *testing.T) (*orders.Service, *sqlite.Log) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.db")
	svc, err := orders.Open(ctx, path, orders.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	log, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return svc, log
}

// events returns every event of the orders feed that is committed.
func events(t *testing.T, log *sqlite.Log) []eventfeed.Event {
	t.Helper()
	evs, err := log.Read(context.Background(), orders.Feed, 1, 1000)
	if errors.Is(err, eventfeed.ErrFeedNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

var book = orders.NewOrder{Customer: "Ada", Address: "1 Loop Road", Items: []orders.Item{{SKU: "book-42", Quantity: 2}}}

func TestPlaceAndCancel(t *testing.T) {
	ctx := context.Background()
	svc, log := open(t)

	o, err := svc.Place(ctx, book)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != 1 || o.Status != orders.StatusPlaced {
		t.Errorf("Place: got order %d %s, want order 1 placed", o.ID, o.Status)
	}
	evs := events(t, log)
	if len(evs) != 1 {
		t.Fatalf("after Place: got %d events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Type != orders.TypePlaced || ev.Subject != "order-1" || ev.Seq != 1 || !ev.Time.Equal(o.PlacedAt) {
		t.Errorf("after Place: got event %s %s seq %d at %v, want order.placed order-1 seq 1 at %v", ev.Type, ev.Subject, ev.Seq, ev.Time, o.PlacedAt)
	}
	var data struct {
		OrderID  int64         `json:"order_id"`
		Customer string        `json:"customer"`
		Address  string        `json:"address"`
		Items    []orders.Item `json:"items"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if data.OrderID != 1 || data.Customer != book.Customer || data.Address != book.Address || len(data.Items) != 1 || data.Items[0] != book.Items[0] {
		t.Errorf("order.placed data: got %s, want the order", ev.Data)
	}

	c, err := svc.Cancel(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != orders.StatusCancelled || c.CancelledAt == nil {
		t.Errorf("Cancel: got status %s, cancelled at %v; want cancelled with a time", c.Status, c.CancelledAt)
	}
	got, err := svc.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != orders.StatusCancelled || !got.CancelledAt.Equal(*c.CancelledAt) || got.Customer != book.Customer || len(got.Items) != 1 {
		t.Errorf("Get after Cancel: got %+v, want %+v", got, c)
	}
	evs = events(t, log)
	if len(evs) != 2 || evs[1].Type != orders.TypeCancelled || evs[1].Subject != "order-1" || string(evs[1].Data) != `{"order_id":1}` {
		t.Fatalf("after Cancel: got events %+v, want order.placed then order.cancelled of order-1", evs)
	}

	for _, tc := range []struct {
		id   int64
		want error
	}{{1, orders.ErrCancelled}, {2, orders.ErrNotFound}} {
		if _, err := svc.Cancel(ctx, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("Cancel(%d): got %v, want %v", tc.id, err, tc.want)
		}
	}
	if n := len(events(t, log)); n != 2 {
		t.Errorf("after refused cancels: got %d events, want 2", n)
	}
}

// TestOutbox makes each write of a transaction fail in turn, and checks
// that neither the order's row nor its event was stored.
func TestOutbox(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		trigger string // makes one write fail
		op      func(*orders.Service) error
	}{
		{
			name:    "place: order row fails",
			trigger: `CREATE TRIGGER fail BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'injected'); END`,
			op:      func(s *orders.Service) error { _, err := s.Place(ctx, book); return err },
		},
		{
			// The event is written after the row: the row must go too.
			name:    "place: event fails",
			trigger: `CREATE TRIGGER fail BEFORE INSERT ON eventfeed_events BEGIN SELECT RAISE(ABORT, 'injected'); END`,
			op:      func(s *orders.Service) error { _, err := s.Place(ctx, book); return err },
		},
		{
			name:    "cancel: order row fails",
			trigger: `CREATE TRIGGER fail BEFORE UPDATE ON orders BEGIN SELECT RAISE(ABORT, 'injected'); END`,
			op:      func(s *orders.Service) error { _, err := s.Cancel(ctx, 1); return err },
		},
		{
			name:    "cancel: event fails",
			trigger: `CREATE TRIGGER fail BEFORE INSERT ON eventfeed_events BEGIN SELECT RAISE(ABORT, 'injected'); END`,
			op:      func(s *orders.Service) error { _, err := s.Cancel(ctx, 1); return err },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, log := open(t)
			if _, err := svc.Place(ctx, book); err != nil {
				t.Fatal(err)
			}
			if _, err := log.DB().ExecContext(ctx, tc.trigger); err != nil {
				t.Fatal(err)
			}
			if err := tc.op(svc); err == nil {
				t.Fatal("got no error, want the injected failure")
			}
			if o, err := svc.Get(ctx, 1); err != nil || o.Status != orders.StatusPlaced {
				t.Errorf("order 1: got %s, %v; want placed", o.Status, err)
			}
			if _, err := svc.Get(ctx, 2); !errors.Is(err, orders.ErrNotFound) {
				t.Errorf("order 2: got %v, want ErrNotFound", err)
			}
			if evs := events(t, log); len(evs) != 1 || evs[0].Type != orders.TypePlaced {
				t.Errorf("got events %+v, want only order 1's order.placed", evs)
			}

			// Once the fault is gone the same call goes through.
			if _, err := log.DB().ExecContext(ctx, `DROP TRIGGER fail`); err != nil {
				t.Fatal(err)
			}
			if err := tc.op(svc); err != nil {
				t.Fatal(err)
			}
			if evs := events(t, log); len(evs) != 2 || evs[1].Seq != 2 {
				t.Errorf("after the retry: got events %+v, want 2, gapless", evs)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	long := string(make([]byte, orders.MaxTextLen+1))
	many := make([]orders.Item, orders.MaxItems+1)
	for i := range many {
		many[i] = orders.Item{SKU: "x", Quantity: 1}
	}
	for _, tc := range []struct {
		name  string
		order orders.NewOrder
		ok    bool
	}{
		{"valid", book, true},
		{"no customer", orders.NewOrder{Address: "a", Items: book.Items}, false},
		{"long customer", orders.NewOrder{Customer: long, Address: "a", Items: book.Items}, false},
		{"no address", orders.NewOrder{Customer: "c", Items: book.Items}, false},
		{"no items", orders.NewOrder{Customer: "c", Address: "a"}, false},
		{"too many items", orders.NewOrder{Customer: "c", Address: "a", Items: many}, false},
		{"no sku", orders.NewOrder{Customer: "c", Address: "a", Items: []orders.Item{{Quantity: 1}}}, false},
		{"zero quantity", orders.NewOrder{Customer: "c", Address: "a", Items: []orders.Item{{SKU: "x"}}}, false},
		{"huge quantity", orders.NewOrder{Customer: "c", Address: "a", Items: []orders.Item{{SKU: "x", Quantity: orders.MaxQuantity + 1}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.order.Validate()
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, orders.ErrInvalid) {
				t.Errorf("got %v, want ok %v (ErrInvalid otherwise)", err, tc.ok)
			}
		})
	}
}
