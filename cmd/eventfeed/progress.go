package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/eventfeed/eventfeed/metrics"
	"github.com/eventfeed/eventfeed/poller"
)

// report shows how p catches up, on stderr: while it does, a progress
// line rewritten in place every half second when stderr is a terminal;
// once it has caught up (with -follow, the first time), one summary line.
// The returned function, called with the result of Sync or Run, prints
// the summary if p caught up and it was not printed yet, and stops.
func report(ctx context.Context, p follower, stderr io.Writer) (stop func(error)) {
	start := time.Now()
	var (
		mu      sync.Mutex
		done    bool // the summary is printed, or will never be
		showing bool // a progress line is on the terminal
	)
	// finish prints the summary line, in place of the progress line.
	finish := func(st poller.Stats) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		done = true
		if showing {
			fmt.Fprint(stderr, "\r\033[K")
		}
		took := time.Since(start).Round(time.Millisecond)
		if st.Checkpoint.Seq > 0 {
			fmt.Fprintf(stderr, "caught up at seq %d: %d new events in %v\n", st.Checkpoint.Seq, st.Events, took)
		} else {
			fmt.Fprintf(stderr, "caught up: %d new events in %v\n", st.Events, took)
		}
	}
	progress := func(st poller.Stats) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		rate := float64(st.Events) / max(time.Since(start).Seconds(), 1e-9)
		line := fmt.Sprintf("%d events, %.0f events/s, %d pages", st.Events, rate, st.Pages)
		if st.SeqLag > 0 {
			line += fmt.Sprintf(", %d behind the head", st.SeqLag)
		}
		fmt.Fprint(stderr, "\r"+line+"\033[K")
		showing = true
	}

	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		term := isTerminal(stderr)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		last := start
		for {
			select {
			case <-t.C:
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
			st := p.Stats()
			switch {
			case st.CaughtUp:
				finish(st)
				return
			case term && time.Since(last) >= 500*time.Millisecond:
				progress(st)
				last = time.Now()
			}
		}
	}()
	return func(err error) {
		close(quit)
		wg.Wait()
		if st := p.Stats(); err == nil && st.CaughtUp {
			finish(st)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if showing && !done {
			fmt.Fprintln(stderr)
		}
		done = true
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// serveTailMetrics serves p's metrics at addr, telling where on stderr
// (stdout holds the entries). The returned function stops it.
func serveTailMetrics(addr string, p follower, stderr io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewPollerCollector(p), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := metricsServer(reg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	fmt.Fprintf(stderr, "metrics on http://%s/metrics\n", ln.Addr())
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}
