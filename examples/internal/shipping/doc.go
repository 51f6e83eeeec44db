// Package shipping is the shipping service of the examples: it follows the
// orders feed into its own SQLite replica and answers every request from
// that replica alone.
//
// # The replica
//
// A poller (package poller) reads the orders feed and hands its events to
// an sqlite.Replica, which runs the service's projection and moves its
// checkpoint in one transaction per batch: after a crash or a restart the
// service resumes where it stopped, and no event is applied twice. The
// projection keeps one row per order in a shipments table:
//
//	order.placed     → a pending shipment, with the order's address and items
//	order.cancelled  → that shipment cancelled
//
// Other event types are skipped, so that the orders service may publish new
// ones without breaking this consumer. An event the projection cannot read
// (its data is not the JSON it expects) is parked as a dead letter after a
// few tries, and the service goes on with the next.
//
// The service knows the orders feed only by its URL and its events only by
// their documented JSON: it does not import the orders package, and the
// orders service could be written in any language.
//
// # Availability
//
// GET /shipments/{orderID} never calls the orders service. When orders is
// down, shipping answers as before, with what it had read; the poller
// retries with backoff and catches up once orders is back. Before the
// first order the orders feed does not exist (its publisher answers 404):
// shipping logs that once, at INFO, and waits for it without counting
// an error.
//
// # HTTP API
//
//	GET /                      these endpoints (text/plain)
//	GET /shipments/{orderID}   the shipment; 404 for an order the replica has not seen
//	GET /status                how far the replica has read the orders feed
package shipping
