// Package eventfeed lets a service keep a local replica of another
// service's data, updated in the background from a feed of domain events
// over plain HTTP and Atom.
//
// # Why
//
// A service should answer its own requests without calling other services
// while it does. When it needs another service's data it keeps a replica,
// eventually consistent, fed by that service's events. The events travel as
// an Atom feed (RFC 4287) split into archive pages (RFC 5005): full pages
// never change, so the web's caches (nginx, Varnish, a CDN, the client's
// own) serve most of the traffic, and any team can read the feed with any
// Atom library.
//
// # The parts
//
//   - [Event] is the one domain type: a typed, identified payload at a
//     gapless position (Seq) in a named feed.
//   - Package store defines the two sides' storage: a Log of events that a
//     publisher serves, and a Replica that a consumer applies events to,
//     committing each batch together with its checkpoint. store/memory,
//     store/sqlite and store/postgres implement them.
//   - Package feed reads and writes the Atom documents.
//   - Package publisher is an http.Handler serving a Log as feeds: a
//     subscription document at the head, immutable archive pages behind it,
//     ETags, long polls and AtomPub appends.
//   - Package poller follows a feed URL into a Replica, exactly once, with
//     conditional requests and long polls.
//   - Command eventfeed serves, appends to, seeds and tails feeds.
//
// # Errors
//
// The errors every package shares are declared here ([ErrFeedNotFound],
// [ErrConflict], [ErrFeedReset], [ErrCheckpointLost], …). Packages wrap them
// with context; test for them with errors.Is.
package eventfeed
