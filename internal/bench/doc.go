// Package bench holds the end-to-end benchmark scenarios behind
// "eventfeed bench": each starts what it needs on 127.0.0.1, measures,
// and returns a Result that prints as a table (WriteTable) or encodes as
// one JSON object. A Result shows the project's targets beside the
// figures; nothing here judges pass or fail.
//
// # Scenarios
//
//   - [Catchup]: a poller catches up with a feed of N events (seeded by
//     "eventfeed seed", not measured) served by "eventfeed serve" on
//     SQLite in a child process, into an SQLite replica; events/s,
//     pages/s, bytes on the wire, each side's peak RSS; beside it the
//     transport floor, the time to GET every page without parsing it.
//   - [Latency]: appends at a steady rate; the delay from each append to
//     the commit of the event in a replica, with long polling and with
//     polling at an interval.
//   - [Serve]: requests/s and latency for a full page (a page-cache hit)
//     and for a 304 at the head, against "eventfeed serve" and against
//     nginx serving the same bytes from files.
//   - [Fanout]: thousands of idle long polls: the publisher's memory per
//     waiting consumer, then the time from one append until every
//     consumer has the new entry.
//   - [CacheFan]: consumers catch up one after another on the same feed
//     through nginx configured by examples/nginx/eventfeed.conf; each
//     one's events/s and the publisher's CPU time (utime + stime from
//     /proc/PID/stat) spent on it, consumers 2..N over consumer 1.
//   - [Append]: single-event AtomPub POSTs/s, and single and batched
//     in-process appends/s, on SQLite (and PostgreSQL when given).
//
// # Processes
//
// The publisher runs as a child process ([Env.Command], which re-executes
// the eventfeed binary) wherever its memory or CPU is measured apart from
// the client's: Catchup, Serve, Fanout and CacheFan. Latency and Append run the
// publisher in this process, as a service appending to its own log would.
// nginx runs as a child with a configuration generated in the scratch
// directory: one worker, no access log, keep-alive without a request
// limit, static files with its own ETag; for CacheFan, the site
// configuration given (examples/nginx/eventfeed.conf) with its upstream,
// listening address and cache directory moved into the scratch directory.
//
// # Memory
//
// A child's peak RSS is the ru_maxrss that wait4 reports when it exits
// (os.ProcessState.SysUsage). This process's own peak (the poller side of
// Catchup) is VmHWM from /proc/self/status, reset by writing 5 to
// /proc/self/clear_refs just before the measured work, after a GC that
// returns freed memory to the system. Fanout reads the publisher's VmRSS
// from /proc/PID/status before the consumers connect and once it has
// settled with all of them waiting (it changed by less than 1% over two
// quarters of a second in a row). These figures need Linux.
//
// # Load generation
//
// Serve, Fanout and the POSTs of Append speak HTTP/1.1 over plain
// net.Conns: a request is a prepared byte slice, a response is parsed just
// far enough to find its end (Content-Length or chunked). Serve runs a
// closed loop on N keep-alive connections, one goroutine each, with a
// warm-up that is not counted; eventfeed and nginx are measured by the
// same generator in the same run, in alternating order. Fanout holds one
// connection and goroutine per consumer and raises RLIMIT_NOFILE (the
// publisher child inherits it).
package bench
