package shipping

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/eventfeed/eventfeed/examples/internal/problem"
)

// ServeHTTP answers the service's HTTP API from the replica alone: see the
// package documentation.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// index answers GET / with the service's endpoints and a first request to
// try, so that whoever opens the service's address learns what it does.
func (s *Service) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, `shipping: follows the orders feed %[2]s
into its own replica and answers from it alone, also while orders is down.

  GET /shipments/{orderID}  the shipment of an order: 404 until its order.placed is read
  GET /status               how far the replica has read the orders feed

Once an order is placed with the orders service:

  curl -i http://%[1]s/shipments/1
  curl http://%[1]s/status
`, r.Host, s.source)
}

func (s *Service) getShipment(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("orderID"), 10, 64)
	if err != nil || id < 1 {
		problem.Write(w, http.StatusNotFound, fmt.Sprintf("no shipment for order %q: order IDs are positive integers", r.PathValue("orderID")))
		return
	}
	sh, err := s.Shipment(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		problem.Write(w, http.StatusNotFound, err.Error())
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, sh)
	}
}

func (s *Service) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.Status(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, st)
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client is gone
	}
	s.logger.ErrorContext(r.Context(), "shipping: request failed", "path", r.URL.Path, "err", err)
	problem.Write(w, http.StatusInternalServerError, "the replica could not be read; try again")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
