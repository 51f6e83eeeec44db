package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// LatencyConfig configures the latency scenario.
type LatencyConfig struct {
	// N is how many events are appended in each mode; DefaultLatencyN when
	// zero.
	N int
	// Rate is how many events are appended per second;
	// DefaultLatencyRate when zero.
	Rate float64
	// Interval is the pause between polls in the interval mode;
	// DefaultLatencyInterval when zero.
	Interval time.Duration
}

// Defaults of LatencyConfig.
const (
	DefaultLatencyN        = 1000
	DefaultLatencyRate     = 100
	DefaultLatencyInterval = time.Second
)

// TargetLatencyP99 is the target p99 of the long-poll delay, in ms.
const TargetLatencyP99 = 10

// LatencyResult is the outcome of the latency scenario.
type LatencyResult struct {
	Scenario string       `json:"scenario"`
	Machine  Machine      `json:"machine"`
	N        int          `json:"n"`
	Rate     float64      `json:"rate_per_s"`
	Modes    []LatencyRun `json:"modes"`
	Targets  struct {
		LongPollP99 float64 `json:"long_poll_p99_ms"`
	} `json:"targets"`
}

// LatencyRun is the delay from append to replica commit in one mode of
// polling.
type LatencyRun struct {
	// Mode is "long-poll" or "interval" (Atom, poller.Poller), or
	// "http-feeds-long-poll" (the http-feed with timeout, poller.HTTPFeed).
	Mode string `json:"mode"`
	// Interval is the pause between polls, in seconds, in the interval mode.
	Interval float64 `json:"interval_s,omitempty"`
	// Delivered is how many of the events appended reached the replica.
	Delivered int         `json:"delivered"`
	Delay     Percentiles `json:"delay"`
	// Polls and NotModified are the poller's pages fetched and 304s.
	Polls       uint64 `json:"pages_fetched"`
	NotModified uint64 `json:"not_modified"`
}

// Latency measures the delay from an append to the commit of the event in
// a replica following the feed: with long polling, and with polling at
// cfg.Interval. The publisher, its SQLite log, the poller and its SQLite
// replica run in this process, as in a service that appends to its own
// log; the events are appended at a steady rate, one per Append.
func Latency(ctx context.Context, env *Env, cfg LatencyConfig) (*LatencyResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.N == 0 {
		cfg.N = DefaultLatencyN
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultLatencyRate
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultLatencyInterval
	}
	if cfg.N < 0 || cfg.Rate < 0 || cfg.Interval < 0 {
		return nil, fmt.Errorf("bench: latency: negative setting in %+v", cfg)
	}
	res := &LatencyResult{Scenario: "latency", Machine: startMachine(), N: cfg.N, Rate: cfg.Rate}
	res.Targets.LongPollP99 = TargetLatencyP99

	log, err := sqlite.Open(ctx, filepath.Join(env.Dir, "latency.db"), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	defer log.Close()
	srv, err := startPublisher(log, publisher.Config{})
	if err != nil {
		return nil, err
	}
	defer srv.close()

	for _, mode := range []struct {
		name     string
		cfg      poller.Config
		httpFeed bool
	}{
		{"long-poll", poller.Config{}, false},
		{"interval", poller.Config{Wait: -1, MinInterval: cfg.Interval, MaxInterval: cfg.Interval}, false},
		{"http-feeds-long-poll", poller.Config{}, true},
	} {
		env.logf("latency, %s: %d appends at %g/s", mode.name, cfg.N, cfg.Rate)
		run, err := latencyRun(ctx, env, log, srv.url, "latency-"+mode.name, mode.cfg, cfg, mode.httpFeed)
		if err != nil {
			return nil, fmt.Errorf("bench: latency, %s: %w", mode.name, err)
		}
		run.Mode = mode.name
		if mode.cfg.Wait < 0 {
			run.Interval = cfg.Interval.Seconds()
		}
		env.logf("latency, %s: p50 %.1f ms, p99 %.1f ms", mode.name, run.Delay.P50, run.Delay.P99)
		res.Modes = append(res.Modes, run)
	}
	res.Machine.finish()
	return res, nil
}

// latencyRun measures the delays of one mode on the feed name, served
// under feeds.
func latencyRun(ctx context.Context, env *Env, log store.Log, feeds, name string, pcfg poller.Config, cfg LatencyConfig, httpFeed bool) (LatencyRun, error) {
	var run LatencyRun
	source := feeds + name
	base, err := openReplica(ctx, filepath.Join(env.Dir, name+"-replica.db"))
	if err != nil {
		return run, err
	}
	defer base.Close()
	replica := newTimedReplica(base)
	// The feed exists before the poller starts, with one event that
	// shows the poller has caught up and sits at the head.
	if _, err := log.Append(ctx, env.event(name, 0)); err != nil {
		return run, err
	}
	var p interface {
		Run(context.Context) error
		Stats() poller.Stats
	}
	if httpFeed {
		p, err = poller.NewHTTPFeed(source+"/events", replica, pcfg)
	} else {
		p, err = poller.New(source, replica, pcfg)
	}
	if err != nil {
		return run, err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	defer func() {
		stop()
		<-done
	}()
	if err := replica.waitFor(ctx, 1, time.Minute, done); err != nil {
		return run, err
	}
	// The poller commits the first event before it polls the head: give it
	// a moment to send that poll.
	time.Sleep(50 * time.Millisecond)

	sent := make([]time.Time, cfg.N+2)
	period := time.Duration(float64(time.Second) / cfg.Rate)
	start := time.Now()
	for i := 1; i <= cfg.N; i++ {
		if d := time.Until(start.Add(time.Duration(i-1) * period)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return run, ctx.Err()
			}
		}
		t0 := time.Now()
		stored, err := log.Append(ctx, env.event(name, i))
		if err != nil {
			return run, err
		}
		sent[stored[0].Seq] = t0
	}
	last := uint64(cfg.N + 1)
	if err := replica.waitFor(ctx, last, time.Minute+3*pcfg.MinInterval, done); err != nil {
		return run, err
	}
	var delays []time.Duration
	for seq, at := range replica.committedRange(2, last) {
		if !sent[seq].IsZero() {
			delays = append(delays, at.Sub(sent[seq]))
		}
	}
	st := p.Stats()
	run.Delivered = len(delays)
	run.Delay = summarize(delays)
	run.Polls, run.NotModified = st.Pages, st.NotModified
	return run, nil
}

// timedReplica is a store.Replica that notes when each event's batch was
// committed.
type timedReplica struct {
	store.Replica
	mu        sync.Mutex
	committed map[uint64]time.Time // by seq
	head      uint64
	changed   chan struct{} // closed and replaced on each commit
}

func newTimedReplica(r store.Replica) *timedReplica {
	return &timedReplica{Replica: r, committed: make(map[uint64]time.Time), changed: make(chan struct{})}
}

func (r *timedReplica) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	if err := r.Replica.Apply(ctx, cp, events); err != nil {
		return err
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range events {
		if _, ok := r.committed[ev.Seq]; !ok {
			r.committed[ev.Seq] = now
		}
		r.head = max(r.head, ev.Seq)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// waitFor waits until the replica has committed seq, the poller has
// stopped (done), ctx ends or timeout passes.
func (r *timedReplica) waitFor(ctx context.Context, seq uint64, timeout time.Duration, done <-chan error) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		head, changed := r.head, r.changed
		r.mu.Unlock()
		if head >= seq {
			return nil
		}
		select {
		case <-changed:
		case err := <-done:
			return fmt.Errorf("poller stopped: %v", err)
		case <-timer.C:
			return fmt.Errorf("replica at seq %d after %v, want %d", head, timeout, seq)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// committedRange yields the commit time of each seq from..to committed.
func (r *timedReplica) committedRange(from, to uint64) func(func(uint64, time.Time) bool) {
	return func(yield func(uint64, time.Time) bool) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for seq := from; seq <= to; seq++ {
			if at, ok := r.committed[seq]; ok && !yield(seq, at) {
				return
			}
		}
	}
}

// server is a publisher serving a log in this process, on loopback.
type server struct {
	h   *publisher.Handler
	srv *http.Server
	url string // of the feeds, ending in a slash
	ln  net.Listener
	err chan error
}

func startPublisher(log store.Log, cfg publisher.Config) (*server, error) {
	h, err := publisher.New(log, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	s := &server{
		h:   h,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		url: "http://" + ln.Addr().String() + "/feeds/",
		ln:  ln,
		err: make(chan error, 1),
	}
	s.srv.RegisterOnShutdown(h.Close)
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

func (s *server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.err; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
