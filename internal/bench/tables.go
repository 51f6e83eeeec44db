package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// The tables show each figure with its target beside it, and do not judge.

// WriteTable prints r as a table.
func (r *CatchupResult) WriteTable(w io.Writer) error {
	t := table{
		title: fmt.Sprintf("catchup: %d events of ~%d B JSON, publisher (eventfeed serve on SQLite, child process) -> poller -> SQLite replica\n%s",
			r.Events, eventSize, r.Machine.String()),
		header: []string{"page size", "protocol", "events", "pages", "seconds", "events/s", "pages/s", "wire MiB",
			"floor s", "floor events/s", "catch-up/floor", "vs atom", "poller CPU s", "publisher CPU s", "publisher peak RSS MiB", "poller peak RSS MiB"},
	}
	for _, run := range r.Runs {
		t.add(n(int64(run.PageSize)), run.Protocol, n(int64(run.Events)), n(int64(run.Pages)), f(run.Seconds, 2),
			f(run.EventsPerSecond, 0), f(run.PagesPerSecond, 0), f(mb(run.WireRead+run.WireWritten), 1),
			f(run.Floor.Seconds, 2), f(run.Floor.EventsPerSecond, 0), f(run.FloorRatio, 2), f(run.AtomRatio, 2),
			f(run.PollerCPU, 2), f(run.PublisherCPU, 2), f(mb(run.PublisherPeakRSS), 1), f(mb(run.PollerPeakRSS), 1))
	}
	t.add("target", "", "", "", "", fmt.Sprintf(">= %.0f", r.Targets.EventsPerSecond), "", "", "", "",
		fmt.Sprintf(">= %.2f (tail >= %.2f)", r.Targets.FloorRatio, r.Targets.TailFloorRatio), ">= 1.00 (http-feeds)", "", "", "", "")
	t.notes = []string{
		"floor: every Atom page GET in turn with net/http (gzip, keep-alive), bodies read and discarded, from a fresh publisher.",
		"protocol: atom = poller.Poller on the subscription document; http-feeds = poller.HTTPFeed on {feed}/events (lastEventId, 303 to immutable batches);",
		"tail = \"eventfeed tail -db R -q URL > file\" (Atom) in a child process, timed from start to exit, its pages and wire bytes not counted. vs atom: events/s over the atom run's.",
		"publisher peak RSS: ru_maxrss of the child; poller peak RSS: VmHWM of this process, reset (clear_refs) before the catch-up; for tail, ru_maxrss of the tail process.",
		"CPU s: user+system seconds of the poller's process (this one, or tail's) and of the publisher during the catch-up; steadier than wall time on a shared machine.",
	}
	return t.write(w)
}

// WriteTable prints r as a table.
func (r *LatencyResult) WriteTable(w io.Writer) error {
	t := table{
		title: fmt.Sprintf("latency: %d appends at %g/s, append -> replica commit (publisher, SQLite log, poller and SQLite replica in one process)\n%s",
			r.N, r.Rate, r.Machine.String()),
		header: []string{"mode", "delivered", "p50 ms", "p90 ms", "p99 ms", "max ms", "pages fetched", "304s", "target p99 ms"},
	}
	for _, m := range r.Modes {
		mode, target := m.Mode, fmt.Sprintf("<= %g", r.Targets.LongPollP99)
		if m.Interval > 0 {
			mode, target = fmt.Sprintf("%s %gs", m.Mode, m.Interval), ""
		}
		t.add(mode, n(int64(m.Delivered)), f(m.Delay.P50, 2), f(m.Delay.P90, 2), f(m.Delay.P99, 2), f(m.Delay.Max, 2),
			n(int64(m.Polls)), n(int64(m.NotModified)), target)
	}
	return t.write(w)
}

// WriteTable prints r as a table.
func (r *ServeResult) WriteTable(w io.Writer) error {
	against := "nginx not run"
	if r.Nginx != "" {
		against = "nginx (" + r.Nginx + ", 1 worker, static files, its own ETag)"
	}
	t := table{
		title: fmt.Sprintf("serve: %d keep-alive connections, %gs each, publisher (eventfeed serve, child process) vs %s and a plain net/http handler\n%s",
			r.Connections, r.Seconds, against, r.Machine.String()),
		header: []string{"request", "client", "server", "req/s", "p50 ms", "p99 ms", "server CPU", "server µs/req", "client CPU",
			"eventfeed/this", "target", "by CPU/req", "errors"},
	}
	cpu := func(x float64) string {
		if x == 0 {
			return "-"
		}
		return f(x, 2)
	}
	for _, k := range r.Kinds {
		name := k.Kind
		if name == "full page" {
			name = fmt.Sprintf("full page (%d B)", r.PageBytes)
		}
		for _, s := range []struct {
			who    string
			l      *LoadResult
			ratio  string
			target string
			byCPU  float64
		}{
			{"eventfeed", &k.Eventfeed, "", "", 0},
			{"nginx", k.Nginx, f(k.Ratio, 2), fmt.Sprintf(">= %.2f", k.Target), k.CPURatio},
			{"net/http", &k.NetHTTP, f(k.NetHTTPRatio, 2), "", k.NetHTTPCPURatio},
		} {
			if s.l == nil {
				continue
			}
			l := s.l
			perReq := "-"
			if l.ServerCPU > 0 && l.PerSecond > 0 {
				perReq = f(l.ServerCPU/l.PerSecond*1e6, 1)
			}
			t.add(name, k.Client, s.who, f(l.PerSecond, 0), f(l.Latency.P50, 3), f(l.Latency.P99, 3),
				cpu(l.ServerCPU), perReq, cpu(l.ClientCPU), s.ratio, s.target, cpu(s.byCPU), n(l.Errors))
		}
	}
	t.notes = []string{
		"client go: this process, one goroutine per connection writing a fixed request and reading the response (raw HTTP/1.1 over net.Conn), closed loop.",
		"client wrk: " + r.Wrk + " -t1 with the same connections (not run when empty).",
		"net/http: the same bytes from memory, headers set straight into the map, 304 on an exact If-None-Match, the publisher's http.Server settings (eventfeed bench floor).",
		"server CPU, client CPU: CPU seconds per second of measurement (1 = one core busy) of the serving process (nginx: its worker) and of the load generator; server µs/req: server CPU per request; by CPU/req: this server's µs/req over eventfeed's (in the sense of eventfeed/this, and much less sensitive to how the cores are shared).",
	}
	for _, k := range r.Kinds {
		for _, l := range []struct {
			who string
			r   *LoadResult
		}{{"eventfeed", &k.Eventfeed}, {"nginx", k.Nginx}, {"net/http", &k.NetHTTP}} {
			if l.r != nil && l.r.FirstError != "" {
				t.notes = append(t.notes, fmt.Sprintf("%s, %s, %s, first error: %s", k.Kind, k.Client, l.who, l.r.FirstError))
			}
		}
	}
	return t.write(w)
}

// WriteTable prints r as a table.
func (r *FanoutResult) WriteTable(w io.Writer) error {
	t := table{
		title: fmt.Sprintf("fanout: %d idle long polls on a publisher (eventfeed serve, child process), then one append\n%s",
			r.Consumers, r.Machine.String()),
		header: []string{"figure", "value", "target"},
	}
	t.add("consumers waiting", fmt.Sprintf("%d of %d", r.Waiting, r.Consumers), "")
	t.add("connect + send all polls, s", f(r.ConnectSeconds, 2), "")
	t.add("publisher RSS before, MiB", f(mb(r.RSSBefore), 1), "")
	t.add("publisher RSS waiting, MiB", f(mb(r.RSSWaiting), 1), "")
	t.add("per waiting consumer, KiB", f(r.BytesPerConsumer/1024, 1), fmt.Sprintf("<= %.0f", r.Targets.BytesPerConsumer/1024))
	t.add("woken with the new entry", fmt.Sprintf("%d of %d", r.Woken, r.Waiting), "")
	t.add("failed", n(int64(r.Failed)), "")
	t.add("wake p50, ms", f(r.Wake.P50, 1), "")
	t.add("wake p99, ms", f(r.Wake.P99, 1), "")
	t.add("all woken (max), ms", f(r.Wake.Max, 1), fmt.Sprintf("<= %.0f", r.Targets.WakeAllMs))
	t.notes = []string{"memory: VmRSS of the publisher (/proc/PID/status) before connecting and once it settled with every poll waiting."}
	return t.write(w)
}

// WriteTable prints r as a table.
func (r *AppendResult) WriteTable(w io.Writer) error {
	t := table{
		title: fmt.Sprintf("append: %d events per run, %d connections or goroutines, batches of %d\n%s",
			r.N, r.Connections, r.Batch, r.Machine.String()),
		header: []string{"store", "mode", "events", "errors", "stored", "seconds", "events/s", "p50 ms", "p99 ms", "target events/s"},
	}
	for _, run := range r.Runs {
		target := ""
		if run.Mode == "POST" && run.Store == "sqlite" {
			target = fmt.Sprintf(">= %.0f", r.Targets.POSTsPerSecond)
		}
		t.add(run.Store, run.Mode, n(run.Events), n(run.Errors), n(int64(run.Stored)), f(run.Seconds, 2),
			f(run.EventsPerSecond, 0), f(run.Latency.P50, 2), f(run.Latency.P99, 2), target)
	}
	t.notes = []string{
		"POST: single-event AtomPub POSTs over HTTP to a publisher in this process; single: one event per Append; batch: one Append per batch.",
	}
	for _, run := range r.Runs {
		if run.FirstError != "" {
			t.notes = append(t.notes, fmt.Sprintf("%s %s, first error: %s", run.Store, run.Mode, run.FirstError))
		}
	}
	return t.write(w)
}

// WriteTable prints r as a table.
func (r *CacheFanResult) WriteTable(w io.Writer) error {
	t := table{
		title: fmt.Sprintf("cachefan: %d consumers one after another, each catching up on the same %d events (page size %d) through nginx (%s, examples/nginx/eventfeed.conf) into a fresh SQLite replica\n%s",
			len(r.Consumers), r.Events, r.PageSize, r.Nginx, r.Machine.String()),
		header: []string{"consumer", "events", "pages", "seconds", "events/s", "vs consumer 1", "publisher CPU s", "responses by X-Cache-Status"},
	}
	for _, c := range r.Consumers {
		var statuses []string
		for _, k := range slices.Sorted(maps.Keys(c.Requests)) {
			statuses = append(statuses, fmt.Sprintf("%s %d", k, c.Requests[k]))
		}
		t.add(n(int64(c.Consumer)), n(int64(c.Events)), n(int64(c.Pages)), f(c.Seconds, 2), f(c.EventsPerSecond, 0),
			f(c.SpeedRatio, 2), f(c.PublisherCPUSeconds, 2), strings.Join(statuses, ", "))
	}
	t.add("target", "", "", "", "", fmt.Sprintf(">= %.2f (2..N)", r.Targets.SpeedRatio), "", "")
	t.notes = []string{
		fmt.Sprintf("publisher CPU on consumers 2..%d / on consumer 1: %.2f s / %.2f s = %.4f (target <= %.2f); slowest later consumer: %.2f of consumer 1's events/s (target >= %.2f).",
			len(r.Consumers), r.LaterCPUSeconds, r.FirstCPUSeconds, r.CPURatio, r.Targets.CPURatio, r.SlowestSpeedRatio, r.Targets.SpeedRatio),
		fmt.Sprintf("publisher CPU while idle: %.3f s per second of wall time, over %.1f s before consumer 1 (not subtracted from the figures above).", r.IdleCPUPerSecond, r.IdleSeconds),
		"publisher CPU: user + system time of the child (utime + stime in /proc/PID/stat, 10 ms ticks) read before and after each catch-up; nginx's own CPU is not counted.",
		"consumers: poller.Poller.Sync from an empty replica, net/http with keep-alive and gzip; nginx's cache starts empty, so consumer 1 fills it.",
	}
	return t.write(w)
}
