package bench

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// AppendConfig configures the append scenario.
type AppendConfig struct {
	// N is how many events each measurement appends; DefaultAppendN when
	// zero.
	N int
	// Connections is how many clients POST at once, and how many
	// goroutines append single events in process;
	// DefaultAppendConnections when zero.
	Connections int
	// Batch is how many events one in-process Append stores;
	// DefaultAppendBatch when zero.
	Batch int
	// Postgres is the DSN of a PostgreSQL database to measure as well;
	// empty measures SQLite alone. Each measurement makes a schema of its
	// own there and drops it afterwards.
	Postgres string
}

// Defaults of AppendConfig.
const (
	DefaultAppendN           = 20_000
	DefaultAppendConnections = 16
	DefaultAppendBatch       = 500
)

// TargetAppendPOSTsPerSecond is the target of single-event POSTs per second
// on SQLite.
const TargetAppendPOSTsPerSecond = 5000

// AppendResult is the outcome of the append scenario.
type AppendResult struct {
	Scenario    string      `json:"scenario"`
	Machine     Machine     `json:"machine"`
	N           int         `json:"n"`
	Connections int         `json:"connections"`
	Batch       int         `json:"batch"`
	Runs        []AppendRun `json:"runs"`
	Targets     struct {
		POSTsPerSecond float64 `json:"posts_per_s"`
	} `json:"targets"`
}

// AppendRun is one way of appending to one store.
type AppendRun struct {
	// Store is "sqlite" or "postgres"; Mode is "POST" (one event per
	// AtomPub POST over HTTP), "single" (one event per Append, in
	// process) or "batch" (Batch events per Append, in process).
	Store string `json:"store"`
	Mode  string `json:"mode"`
	// Events is how many were appended without error, Errors how many
	// failed; Stored is the feed's head afterwards.
	Events          int64   `json:"events"`
	Errors          int64   `json:"errors"`
	Stored          uint64  `json:"stored"`
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"events_per_s"`
	// Latency is that of each POST or Append call.
	Latency    Percentiles `json:"latency"`
	FirstError string      `json:"first_error,omitempty"`
}

// Append measures single-event AtomPub POSTs per second to a publisher
// (in this process, appending allowed by its Authorize function), and
// single and batched Appends in process, on SQLite and, when
// cfg.Postgres is set, on PostgreSQL.
func Append(ctx context.Context, env *Env, cfg AppendConfig) (*AppendResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.N == 0 {
		cfg.N = DefaultAppendN
	}
	if cfg.Connections == 0 {
		cfg.Connections = DefaultAppendConnections
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultAppendBatch
	}
	if cfg.N < 0 || cfg.Connections < 0 || cfg.Batch < 0 {
		return nil, fmt.Errorf("bench: append: negative setting in %+v", cfg)
	}
	res := &AppendResult{Scenario: "append", Machine: startMachine(), N: cfg.N, Connections: cfg.Connections, Batch: cfg.Batch}
	res.Targets.POSTsPerSecond = TargetAppendPOSTsPerSecond

	stores := []struct {
		name string
		open func(mode string) (closingLog, error)
	}{
		{"sqlite", func(mode string) (closingLog, error) {
			return sqlite.Open(ctx, filepath.Join(env.Dir, "append-"+mode+".db"), sqlite.Options{})
		}},
	}
	if cfg.Postgres != "" {
		stores = append(stores, struct {
			name string
			open func(mode string) (closingLog, error)
		}{"postgres", func(mode string) (closingLog, error) {
			return openPostgres(ctx, cfg.Postgres, "append_"+mode)
		}})
	}
	for _, st := range stores {
		for _, mode := range []string{"POST", "single", "batch"} {
			log, err := st.open(strings.ToLower(mode))
			if err != nil {
				return nil, fmt.Errorf("bench: append, %s: %w", st.name, err)
			}
			env.logf("append, %s, %s: %d events", st.name, mode, cfg.N)
			var run AppendRun
			if mode == "POST" {
				run, err = appendPOST(ctx, env, log, cfg)
			} else {
				run, err = appendLog(ctx, env, log, mode, cfg)
			}
			if cerr := log.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("bench: append, %s, %s: %w", st.name, mode, err)
			}
			run.Store, run.Mode = st.name, mode
			env.logf("append, %s, %s: %.0f events/s", st.name, mode, run.EventsPerSecond)
			res.Runs = append(res.Runs, run)
		}
	}
	res.Machine.finish()
	return res, nil
}

// closingLog is a store.Log to be closed after use.
type closingLog interface {
	store.Log
	Close() error
}

// appendPOST POSTs cfg.N events to log through a publisher, one per
// request, over cfg.Connections keep-alive connections.
func appendPOST(ctx context.Context, env *Env, log store.Log, cfg AppendConfig) (AppendRun, error) {
	var run AppendRun
	token := "Bearer " + randomHex(16)
	srv, err := startPublisher(log, publisher.Config{
		Authorize: func(r *http.Request, _ string) error {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(token)) != 1 {
				return publisher.ErrUnauthorized
			}
			return nil
		},
	})
	if err != nil {
		return run, err
	}
	defer srv.close()
	addr := srv.ln.Addr().String()
	data := env.event(benchFeed, 0).Data
	prefix := randomHex(8)
	post := func(i int) []byte {
		return request("POST", addr, "/feeds/"+benchFeed, data,
			"Authorization: "+token, "Content-Type: application/json",
			"Event-Type: item.updated", "Event-Subject: item-"+strconv.Itoa(i),
			`Idempotency-Key: "urn:bench:`+prefix+"-"+strconv.Itoa(i)+`"`)
	}
	var (
		next, done, errs atomic.Int64
		firstErr         atomic.Pointer[string]
		wg               sync.WaitGroup
		samples          = make([][]time.Duration, cfg.Connections)
	)
	fail := func(format string, args ...any) {
		errs.Add(1)
		s := fmt.Sprintf(format, args...)
		firstErr.CompareAndSwap(nil, &s)
	}
	conns := make([]*rawConn, cfg.Connections)
	for i := range conns {
		if conns[i], err = dialRaw(ctx, addr, 16<<10); err != nil {
			return run, err
		}
		defer conns[i].Close()
	}
	start := time.Now()
	for w, c := range conns {
		wg.Go(func() {
			var resp response
			for ctx.Err() == nil {
				i := int(next.Add(1))
				if i > cfg.N {
					return
				}
				req := post(i)
				t0 := time.Now()
				c.SetDeadline(t0.Add(time.Minute))
				err := c.do(req, &resp, false, false)
				d := time.Since(t0)
				switch {
				case err != nil:
					fail("POST %d: %v", i, err)
					return
				case resp.status != http.StatusCreated:
					fail("POST %d: status %d", i, resp.status)
				default:
					done.Add(1)
					samples[w] = append(samples[w], d)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return run, err
	}
	fillAppendRun(ctx, &run, log, done.Load(), errs.Load(), elapsed, samples)
	if s := firstErr.Load(); s != nil {
		run.FirstError = *s
	}
	return run, nil
}

// appendLog appends cfg.N events to log in process: one per Append from
// cfg.Connections goroutines ("single"), or cfg.Batch per Append from one
// ("batch").
func appendLog(ctx context.Context, env *Env, log store.Log, mode string, cfg AppendConfig) (AppendRun, error) {
	var run AppendRun
	events := make([]eventfeed.Event, cfg.N)
	for i := range events {
		events[i] = env.event(benchFeed, i)
	}
	workers, size := cfg.Connections, 1
	if mode == "batch" {
		workers, size = 1, cfg.Batch
	}
	var (
		next, done, errs atomic.Int64
		firstErr         atomic.Pointer[error]
		wg               sync.WaitGroup
		samples          = make([][]time.Duration, workers)
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				to := int(next.Add(int64(size)))
				from := to - size
				if from >= len(events) {
					return
				}
				batch := events[from:min(to, len(events))]
				t0 := time.Now()
				_, err := log.Append(ctx, batch...)
				samples[w] = append(samples[w], time.Since(t0))
				if err != nil {
					errs.Add(int64(len(batch)))
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				done.Add(int64(len(batch)))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return run, err
	}
	fillAppendRun(ctx, &run, log, done.Load(), errs.Load(), elapsed, samples)
	if e := firstErr.Load(); e != nil {
		run.FirstError = (*e).Error()
	}
	return run, nil
}

// fillAppendRun fills in run's figures, and Stored from log.
func fillAppendRun(ctx context.Context, run *AppendRun, log store.Log, done, errs int64, elapsed time.Duration, samples [][]time.Duration) {
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s...)
	}
	if f, err := log.Feed(ctx, benchFeed); err == nil {
		run.Stored = f.Head
	}
	run.Events, run.Errors = done, errs
	run.Seconds = elapsed.Seconds()
	run.EventsPerSecond = perSecond(done, elapsed)
	run.Latency = summarize(all)
}
