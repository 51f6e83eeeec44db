package orders

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/eventfeed/eventfeed/examples/internal/problem"
)

// ServeHTTP answers the service's HTTP API: see the package documentation.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// index answers GET / with the service's endpoints and a first request to
// try, so that whoever opens the service's address learns what it does.
func (s *Service) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, `orders: takes orders and publishes their events as an Atom feed.

  POST /orders              place an order (JSON): 201 and its Location
  GET  /orders/{id}         an order
  POST /orders/{id}/cancel  cancel an order
  GET  /feeds/orders        the Atom feed of order.placed and order.cancelled events
  GET  /feeds/              the AtomPub service document listing the feeds

Place an order:

  curl -i http://%[1]s/orders -H 'Content-Type: application/json' \\
       -d '{"customer":"Ada","address":"1 Loop Road","items":[{"sku":"book-42","quantity":1}]}'

then read it back with curl http://%[1]s/orders/1 and its event with
curl http://%[1]s/feeds/orders
`, r.Host)
}

func (s *Service) place(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			problem.Write(w, http.StatusUnsupportedMediaType, "send the order as application/json")
			return
		}
	}
	var no NewOrder
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&no)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("data after the order")
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			problem.Write(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("an order is at most %d bytes", MaxBodyBytes))
			return
		}
		problem.Write(w, http.StatusBadRequest, "the body is not an order: "+err.Error())
		return
	}
	o, err := s.Place(r.Context(), no)
	if err != nil {
		s.fail(w, r, 0, err)
		return
	}
	w.Header().Set("Location", "/orders/"+strconv.FormatInt(o.ID, 10))
	writeJSON(w, http.StatusCreated, o)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	o, err := s.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Service) cancel(w http.ResponseWriter, r *http.Request) {
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	o, err := s.Cancel(r.Context(), id)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// orderID returns the {id} of r's path, or answers 404.
func orderID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		problem.Write(w, http.StatusNotFound, fmt.Sprintf("no order %q: order IDs are positive integers", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// fail answers with the status that err, met on order id, calls for.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, id int64, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		problem.Write(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		problem.Write(w, http.StatusNotFound, fmt.Sprintf("no order %d", id))
	case errors.Is(err, ErrCancelled):
		problem.Write(w, http.StatusConflict, fmt.Sprintf("order %d is already cancelled", id))
	case r.Context().Err() != nil:
		// The client is gone: nobody reads an answer.
	default:
		s.logger.ErrorContext(r.Context(), "orders: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		problem.Write(w, http.StatusInternalServerError, "the order could not be processed; try again")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
