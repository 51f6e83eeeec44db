// Package notify keeps the heads of a log's feeds in memory and wakes the
// goroutines waiting for them to move.
//
// # Broadcast
//
// A [Signal] hands every waiter the same channel and closes it on the next
// [Signal.Broadcast]: ten thousand long polls waiting on one feed cost a
// channel receive each, and one append wakes them all at once, without a
// goroutine or a timer per waiter.
//
// # Heads
//
// [Heads] is what a store.Log implementation answers Feed, Feeds and Wait
// from. The store calls [Heads.Set] whenever it learns of a new head: after
// its own appends, and when it notices that another connection or process
// committed some.
package notify
