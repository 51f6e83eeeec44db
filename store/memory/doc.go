// Package memory keeps a store.Log and a store.Replica in memory, for tests,
// demos and examples. Nothing survives the process.
//
// # Log
//
// [NewLog] returns an empty [Log]. It behaves as every store.Log must (the
// store/storetest suite checks it): gapless sequences per feed, idempotent
// appends by event ID, an epoch and a page size per feed, and long polls
// through Wait that one append wakes all at once. Appends copy the events'
// Data and reads return copies, so callers may reuse their buffers.
//
// # Replica
//
// [NewReplica] returns a [Replica] that calls a function for each event it
// applies and records what it applied ([Replica.Applied]) and what was
// parked ([Replica.DeadLetters]). A batch whose function fails is not
// recorded and leaves the checkpoint where it was; what the function itself
// did cannot be undone, so it should have no effects outside the program's
// memory that a retry would duplicate.
package memory
