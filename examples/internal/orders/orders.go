package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/uuid"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// Feed is the name of the feed the service publishes; FeedPath is where
// the service serves it.
const (
	Feed     = "orders"
	FeedPath = "/feeds/" + Feed
)

// The types of the events the service publishes.
const (
	TypePlaced    = "order.placed"
	TypeCancelled = "order.cancelled"
)

// The statuses of an order.
const (
	StatusPlaced    = "placed"
	StatusCancelled = "cancelled"
)

// Limits on what an order may hold.
const (
	MaxItems     = 100
	MaxQuantity  = 1000
	MaxTextLen   = 500 // bytes of a customer name, an address or a SKU
	MaxBodyBytes = 64 << 10
)

// Errors of the service; test for them with errors.Is.
var (
	ErrInvalid   = errors.New("orders: invalid order")
	ErrNotFound  = errors.New("orders: order not found")
	ErrCancelled = errors.New("orders: order already cancelled")
)

// Item is one line of an order.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// NewOrder is what a customer sends to place an order.
type NewOrder struct {
	Customer string `json:"customer"`
	Address  string `json:"address"`
	Items    []Item `json:"items"`
}

// Validate reports what is wrong with o, wrapping ErrInvalid.
func (o *NewOrder) Validate() error {
	switch {
	case o.Customer == "" || len(o.Customer) > MaxTextLen:
		return fmt.Errorf("%w: customer must be 1 to %d bytes", ErrInvalid, MaxTextLen)
	case o.Address == "" || len(o.Address) > MaxTextLen:
		return fmt.Errorf("%w: address must be 1 to %d bytes", ErrInvalid, MaxTextLen)
	case len(o.Items) == 0 || len(o.Items) > MaxItems:
		return fmt.Errorf("%w: an order has 1 to %d items, this one %d", ErrInvalid, MaxItems, len(o.Items))
	}
	for i, it := range o.Items {
		switch {
		case it.SKU == "" || len(it.SKU) > MaxTextLen:
			return fmt.Errorf("%w: item %d: sku must be 1 to %d bytes", ErrInvalid, i, MaxTextLen)
		case it.Quantity < 1 || it.Quantity > MaxQuantity:
			return fmt.Errorf("%w: item %d: quantity %d is not in 1..%d", ErrInvalid, i, it.Quantity, MaxQuantity)
		}
	}
	return nil
}

// Order is an order as the service stores it.
type Order struct {
	ID          int64      `json:"id"`
	Customer    string     `json:"customer"`
	Address     string     `json:"address"`
	Items       []Item     `json:"items"`
	Status      string     `json:"status"`
	PlacedAt    time.Time  `json:"placed_at"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
}

// The Data of the events.
type (
	placedData struct {
		OrderID  int64  `json:"order_id"`
		Customer string `json:"customer"`
		Address  string `json:"address"`
		Items    []Item `json:"items"`
	}
	cancelledData struct {
		OrderID int64 `json:"order_id"`
	}
)

// The service's own tables live in the same SQLite file as its event log,
// which is what lets one transaction write both.
const schema = `CREATE TABLE IF NOT EXISTS orders (
	id           INTEGER PRIMARY KEY,
	customer     TEXT NOT NULL,
	address      TEXT NOT NULL,
	items        TEXT NOT NULL, -- JSON array of Item
	status       TEXT NOT NULL CHECK (status IN ('placed', 'cancelled')),
	placed_at    INTEGER NOT NULL, -- Unix nanoseconds
	cancelled_at INTEGER
) STRICT`

// Config configures a Service. The zero value works.
type Config struct {
	// Logger receives failures the clients cannot see (5xx answers). Nil
	// means none.
	Logger *slog.Logger
}

// Service is the orders service: an http.Handler over its SQLite file.
type Service struct {
	log    *sqlite.Log
	feeds  *publisher.Handler
	mux    *http.ServeMux
	logger *slog.Logger
}

// Open opens the service's SQLite file at path, creating it as needed.
// Close releases it.
func Open(ctx context.Context, path string, cfg Config) (*Service, error) {
	log, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := log.DB().ExecContext(ctx, schema); err != nil {
		log.Close()
		return nil, fmt.Errorf("orders: create tables in %s: %w", path, err)
	}
	feeds, err := publisher.New(log, publisher.Config{Title: "orders", Logger: cfg.Logger})
	if err != nil {
		log.Close()
		return nil, err
	}
	s := &Service{log: log, feeds: feeds, mux: http.NewServeMux(), logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("POST /orders", s.place)
	s.mux.HandleFunc("GET /orders/{id}", s.get)
	s.mux.HandleFunc("POST /orders/{id}/cancel", s.cancel)
	s.mux.Handle("/feeds/", http.StripPrefix("/feeds", feeds))
	return s, nil
}

// EndLongPolls answers the feed's waiting long polls at once. Register it
// with http.Server.RegisterOnShutdown, so that Shutdown does not wait for
// them.
func (s *Service) EndLongPolls() { s.feeds.Close() }

// Close ends the long polls and closes the database. Call it once the
// HTTP server has shut down.
func (s *Service) Close() error {
	s.feeds.Close()
	return s.log.Close()
}

// Place stores a new order and its order.placed event, together.
func (s *Service) Place(ctx context.Context, no NewOrder) (Order, error) {
	if err := no.Validate(); err != nil {
		return Order{}, err
	}
	items, err := json.Marshal(no.Items)
	if err != nil {
		return Order{}, err
	}
	o := Order{Customer: no.Customer, Address: no.Address, Items: no.Items, Status: StatusPlaced, PlacedAt: now()}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO orders (customer, address, items, status, placed_at)
			VALUES (?, ?, ?, ?, ?)`, o.Customer, o.Address, string(items), o.Status, o.PlacedAt.UnixNano())
		if err != nil {
			return err
		}
		if o.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		return s.emit(ctx, tx, TypePlaced, o.ID, o.PlacedAt, placedData{o.ID, o.Customer, o.Address, o.Items})
	})
	if err != nil {
		return Order{}, fmt.Errorf("orders: place: %w", err)
	}
	return o, nil
}

// Cancel cancels order id and stores its order.cancelled event, together.
// An unknown order is ErrNotFound; one already cancelled, ErrCancelled.
func (s *Service) Cancel(ctx context.Context, id int64) (Order, error) {
	var o Order
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if o, err = get(ctx, tx, id); err != nil {
			return err
		}
		if o.Status == StatusCancelled {
			return fmt.Errorf("%w: order %d was cancelled at %s", ErrCancelled, id, o.CancelledAt.Format(time.RFC3339))
		}
		now := now()
		if _, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, cancelled_at = ? WHERE id = ?`,
			StatusCancelled, now.UnixNano(), id); err != nil {
			return err
		}
		o.Status, o.CancelledAt = StatusCancelled, &now
		return s.emit(ctx, tx, TypeCancelled, id, now, cancelledData{id})
	})
	if err != nil {
		return Order{}, fmt.Errorf("orders: cancel: %w", err)
	}
	return o, nil
}

// Get returns order id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id int64) (Order, error) {
	return get(ctx, s.log.DB(), id)
}

// inTx runs f in a transaction and commits it when f succeeds.
func (s *Service) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.log.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Wake the feed's long polls now rather than at the log's next look
	// at the file.
	s.log.Notify()
	return nil
}

// emit appends an event about order id within tx: the outbox.
func (s *Service) emit(ctx context.Context, tx *sql.Tx, typ string, id int64, at time.Time, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = s.log.AppendTx(ctx, tx, eventfeed.Event{
		Feed:    Feed,
		ID:      uuid.NewURN(),
		Type:    typ,
		Subject: "order-" + strconv.FormatInt(id, 10),
		Time:    at,
		Data:    b,
	})
	return err
}

// querier is what get needs of a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func get(ctx context.Context, q querier, id int64) (Order, error) {
	var (
		o         Order
		items     []byte
		placed    int64
		cancelled sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT id, customer, address, items, status, placed_at, cancelled_at
		FROM orders WHERE id = ?`, id).Scan(&o.ID, &o.Customer, &o.Address, &items, &o.Status, &placed, &cancelled)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, fmt.Errorf("%w: no order %d", ErrNotFound, id)
	}
	if err != nil {
		return Order{}, err
	}
	if err := json.Unmarshal(items, &o.Items); err != nil {
		return Order{}, fmt.Errorf("order %d: items: %w", id, err)
	}
	o.PlacedAt = time.Unix(0, placed).UTC()
	if cancelled.Valid {
		t := time.Unix(0, cancelled.Int64).UTC()
		o.CancelledAt = &t
	}
	return o, nil
}

// now is the time of an order's change, to the precision its event keeps
// (eventfeed.TimePrecision), so that the order and its event agree.
func now() time.Time { return time.Now().UTC().Truncate(eventfeed.TimePrecision) }
