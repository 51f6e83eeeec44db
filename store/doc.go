// Package store defines where events live: a [Log] on the publishing side
// and a [Replica] on the consuming side.
//
// # Log
//
// A Log keeps named feeds of events, each numbered 1, 2, 3, … without gaps,
// in the order in which they became visible: no reader ever sees seq n+1
// before seq n. Appends are idempotent by event ID. Each feed carries an
// epoch and a page size fixed when its first event is stored (see [Feed]):
// a publisher embeds both in page URLs that caches keep forever.
//
// # Replica
//
// A Replica applies events to a consumer's local state and commits the
// consumer's [Checkpoint] in the same transaction. Each commit is fenced
// by the checkpoint's Version: it succeeds only while the stored
// checkpoint is the one the consumer read, so that a second consumer of
// the same source stops with [ErrCheckpointMoved] instead of applying
// events twice. The checkpoint also keeps what a consumer learned of a
// feed without seqs (the order of its entries, the IDs it applied last).
//
// # Implementations
//
// store/memory keeps everything in memory (tests, demos); store/sqlite is the
// embedded default; store/postgres lets several publisher instances share
// one log. store/storetest is the conformance suite they all pass.
package store
