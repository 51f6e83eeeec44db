package shipping

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// The statuses of a shipment.
const (
	StatusPending   = "pending"
	StatusCancelled = "cancelled"
)

// ErrNotFound reports a shipment the replica does not have.
var ErrNotFound = errors.New("shipping: shipment not found")

// Item is one line of a shipment.
type Item struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// Shipment is what the service knows of one order.
type Shipment struct {
	OrderID   int64     `json:"order_id"`
	Status    string    `json:"status"`
	Address   string    `json:"address"`
	Items     []Item    `json:"items"`
	UpdatedAt time.Time `json:"updated_at"` // the time of the last event applied
}

// Status is how far the service has read the orders feed.
type Status struct {
	Source string `json:"source"` // the orders feed's URL
	// Seq is the position in the orders feed of the last event applied,
	// as committed in the replica: it survives restarts.
	Seq uint64 `json:"seq"`
	// Applied counts the events applied since the service was opened;
	// Parked, those set aside as dead letters because the projection could
	// not apply them.
	Applied uint64 `json:"applied"`
	Parked  uint64 `json:"parked"`
	// CaughtUp reports that the replica has reached the feed's head.
	CaughtUp bool `json:"caught_up"`
	// Lag is how old the newest event applied was when it was committed.
	Lag string `json:"lag,omitempty"`
	// Errors counts failed requests to the orders feed and failed
	// batches; LastError is the last of them.
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error,omitempty"`
}

// Config configures a Service.
type Config struct {
	// Orders is the URL of the orders feed, such as
	// "http://127.0.0.1:8070/feeds/orders". Required.
	Orders string
	// Client makes the requests to the orders feed. Nil means the
	// poller's default client.
	Client *http.Client
	// Backoff spaces the retries while the orders feed cannot be read.
	// Zero fields mean 100ms and 2s: short, so that the example catches
	// up soon after orders is back.
	Backoff poller.Backoff
	// Applied, when set, is called with each batch of events once the
	// replica has committed it (never for a batch that was rolled back).
	// It runs on the poller's goroutine: it should return quickly.
	Applied func(events []eventfeed.Event)
	// Logger receives the poller's log of retried failures. Nil means none.
	Logger *slog.Logger
}

// Service is the shipping service: an http.Handler over its replica, and
// a poller that keeps the replica up to date while Run runs.
type Service struct {
	replica *sqlite.Replica
	poller  *poller.Poller
	source  string
	mux     *http.ServeMux
	logger  *slog.Logger
	client  *http.Client
	backoff poller.Backoff
}

const schema = `CREATE TABLE IF NOT EXISTS shipments (
	order_id   INTEGER PRIMARY KEY,
	status     TEXT NOT NULL CHECK (status IN ('pending', 'cancelled')),
	address    TEXT NOT NULL,
	items      TEXT NOT NULL, -- JSON array of Item
	updated_at INTEGER NOT NULL -- Unix nanoseconds
) STRICT`

// Open opens the service's replica at path, creating it as needed, and
// prepares to follow cfg.Orders. Nothing is fetched until Run. Close
// releases the replica.
func Open(ctx context.Context, path string, cfg Config) (*Service, error) {
	u, err := url.Parse(cfg.Orders)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("shipping: orders feed URL %q is not an absolute http or https URL", cfg.Orders)
	}
	u.Fragment = "" // as the poller keys its checkpoint
	replica, err := sqlite.OpenReplica(ctx, path, sqlite.ReplicaOptions{Projection: project})
	if err != nil {
		return nil, err
	}
	if _, err := replica.DB().ExecContext(ctx, schema); err != nil {
		replica.Close()
		return nil, fmt.Errorf("shipping: create tables in %s: %w", path, err)
	}
	var r store.Replica = replica
	if cfg.Applied != nil {
		r = committed{replica, cfg.Applied}
	}
	if cfg.Backoff.Min == 0 {
		cfg.Backoff.Min = 100 * time.Millisecond
	}
	if cfg.Backoff.Max == 0 {
		cfg.Backoff.Max = 2 * time.Second
	}
	p, err := poller.New(u.String(), r, poller.Config{
		Client:     cfg.Client,
		Backoff:    cfg.Backoff,
		DeadLetter: true,
		Logger:     cfg.Logger,
	})
	if err != nil {
		replica.Close()
		return nil, err
	}
	s := &Service{replica: replica, poller: p, source: p.Source(), mux: http.NewServeMux(), logger: cfg.Logger,
		client: cfg.Client, backoff: cfg.Backoff}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	s.mux.HandleFunc("GET /{$}", s.index)
	s.mux.HandleFunc("GET /shipments/{orderID}", s.getShipment)
	s.mux.HandleFunc("GET /status", s.getStatus)
	return s, nil
}

// Run follows the orders feed into the replica until ctx ends, and then
// returns nil. It returns earlier only on an error that retrying cannot
// cure, such as a feed that was reset (eventfeed.ErrFeedReset). Until the
// first order is placed the feed does not exist; Run waits for it.
func (s *Service) Run(ctx context.Context) error {
	if err := s.awaitFeed(ctx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	return s.poller.Run(ctx)
}

// awaitFeed returns once the orders feed exists, when the replica has
// never read it. A publisher answers 404 for a feed until its first event:
// for a shop that has taken no order yet that is the normal state, not an
// error, so it is logged once at INFO and not counted in the Status's
// errors. Any other answer, or a failure, is left to the poller, which
// retries and reports it.
func (s *Service) awaitFeed(ctx context.Context) error {
	cp, err := s.replica.Checkpoint(ctx, s.source)
	if err != nil || !cp.IsZero() {
		return err
	}
	wait := s.backoff.Min
	for logged := false; ; logged = true {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.source, nil)
		if err != nil {
			return err
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return nil
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return nil
		}
		if !logged {
			s.logger.InfoContext(ctx, "shipping: the orders feed has no events yet; waiting for the first order", "feed", s.source)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, s.backoff.Max)
	}
}

// Sync applies what the orders feed holds that the replica does not, and
// returns once the replica has reached the feed's head: a one-off catch-up,
// for tests and batch jobs. It must not run at the same time as Run.
func (s *Service) Sync(ctx context.Context) error { return s.poller.Sync(ctx) }

// Close closes the replica. Call it after Run has returned and the HTTP
// server has shut down.
func (s *Service) Close() error { return s.replica.Close() }

// Shipment returns the shipment of order orderID, or ErrNotFound.
func (s *Service) Shipment(ctx context.Context, orderID int64) (Shipment, error) {
	var (
		sh      Shipment
		items   []byte
		updated int64
	)
	err := s.replica.DB().QueryRowContext(ctx, `SELECT order_id, status, address, items, updated_at
		FROM shipments WHERE order_id = ?`, orderID).Scan(&sh.OrderID, &sh.Status, &sh.Address, &items, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Shipment{}, fmt.Errorf("%w: no shipment for order %d", ErrNotFound, orderID)
	}
	if err != nil {
		return Shipment{}, fmt.Errorf("shipping: shipment %d: %w", orderID, err)
	}
	if err := json.Unmarshal(items, &sh.Items); err != nil {
		return Shipment{}, fmt.Errorf("shipping: shipment %d: items: %w", orderID, err)
	}
	sh.UpdatedAt = time.Unix(0, updated).UTC()
	return sh, nil
}

// Status reports how far the replica has read the orders feed.
func (s *Service) Status(ctx context.Context) (Status, error) {
	cp, err := s.replica.Checkpoint(ctx, s.source)
	if err != nil {
		return Status{}, fmt.Errorf("shipping: status: %w", err)
	}
	st := s.poller.Stats()
	out := Status{Source: s.source, Seq: cp.Seq, Applied: st.Events, Parked: st.Parked, CaughtUp: st.CaughtUp, Errors: st.Errors}
	if st.Lag > 0 {
		out.Lag = st.Lag.String()
	}
	if st.LastError != nil {
		out.LastError = st.LastError.Error()
	}
	return out, nil
}

// project applies one event of the orders feed to the shipments table,
// inside the replica's transaction: its writes commit with the checkpoint
// or not at all.
func project(ctx context.Context, tx *sql.Tx, ev eventfeed.Event) error {
	var d struct {
		OrderID int64  `json:"order_id"`
		Address string `json:"address"`
		Items   []Item `json:"items"`
	}
	switch ev.Type {
	case "order.placed", "order.cancelled":
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return fmt.Errorf("%s data: %w", ev.Type, err)
		}
		if d.OrderID < 1 {
			return fmt.Errorf("%s data has no order_id", ev.Type)
		}
	default:
		return nil // not an event shipping cares about
	}
	at := ev.Time.UnixNano()
	if ev.Type == "order.cancelled" {
		_, err := tx.ExecContext(ctx, `UPDATE shipments SET status = ?, updated_at = ? WHERE order_id = ?`,
			StatusCancelled, at, d.OrderID)
		return err
	}
	items, err := json.Marshal(d.Items)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO shipments (order_id, status, address, items, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`,
		d.OrderID, StatusPending, d.Address, string(items), at)
	return err
}

// committed is a store.Replica that reports each batch after its commit.
type committed struct {
	store.Replica
	after func([]eventfeed.Event)
}

func (c committed) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	if err := c.Replica.Apply(ctx, cp, events); err != nil {
		return err
	}
	if len(events) > 0 {
		c.after(events)
	}
	return nil
}
