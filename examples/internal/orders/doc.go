// Package orders is the orders service of the examples: it takes orders
// over HTTP, keeps them in its own SQLite tables, and publishes what
// happens to them as the "orders" feed.
//
// # The transactional outbox
//
// Placing or cancelling an order writes the order's row and appends its
// event (order.placed, order.cancelled) in one SQLite transaction, with
// sqlite.Log.AppendTx: either both are stored or neither is. There is no
// moment when the order exists but its event was lost, or the event was
// published for an order that was rolled back, and no message broker to
// keep in step with the database.
//
// # HTTP API
//
//	GET  /                     these endpoints and a curl line to place an order (text/plain)
//	POST /orders               {"customer": …, "address": …, "items": [{"sku": …, "quantity": …}]}
//	                           201 Created, Location: /orders/{id}
//	GET  /orders/{id}          the order, from the service's own tables
//	POST /orders/{id}/cancel   200 OK; 404 for an unknown order, 409 if already cancelled
//	GET  /feeds/orders         the Atom feed of its events (package publisher)
//
// Errors are application/problem+json documents: 400 for a body that is
// not a valid order, 413 for one over MaxBodyBytes, 415 for a body that is
// not JSON.
//
// # Events
//
// Each event's Subject is "order-{id}" and its Data is JSON:
//
//	order.placed     {"order_id": 1, "customer": "…", "address": "…", "items": [{"sku": "…", "quantity": 1}]}
//	order.cancelled  {"order_id": 1}
//
// That JSON is the service's contract with its consumers: the shipping
// example reads it without importing this package.
package orders
