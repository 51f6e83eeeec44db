package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store/postgres"
)

// SequencerConfig configures the sequencer scenario.
type SequencerConfig struct {
	// Postgres is the DSN of the PostgreSQL database to measure.
	// Required. Each run makes a schema of its own there and drops it
	// afterwards.
	Postgres string
	// N is how many transactions each run commits; DefaultSequencerN
	// when zero.
	N int
	// Writers is how many goroutines commit transactions at once;
	// DefaultSequencerWriters when zero.
	Writers int
	// Pairs is how many times both runs are made, alternating which comes
	// first; DefaultSequencerPairs when zero.
	Pairs int
}

// Defaults of SequencerConfig.
const (
	DefaultSequencerN       = 20_000
	DefaultSequencerWriters = 16
	DefaultSequencerPairs   = 2
)

// Targets of the sequencer scenario: events sequenced per second over the
// transactions per second of the same writers with no sequencer, and the
// p99 of the time from a writer's commit to a Wait seeing its event.
const (
	TargetSequencerRatio = 0.75
	TargetSequencerLagMs = 20
)

// SequencerResult is the outcome of the sequencer scenario.
type SequencerResult struct {
	Scenario string         `json:"scenario"`
	Machine  Machine        `json:"machine"`
	N        int            `json:"n"`
	Writers  int            `json:"writers"`
	Runs     []SequencerRun `json:"runs"`
	// Unsequenced and Sequenced are the events per second of all the runs
	// of each kind (events over seconds, summed); Ratio is Sequenced over
	// Unsequenced.
	Unsequenced float64 `json:"unsequenced_events_per_s"`
	Sequenced   float64 `json:"sequenced_events_per_s"`
	Ratio       float64 `json:"ratio"`
	// Lag is that of every event of every sequenced run.
	Lag Percentiles `json:"lag"`
	// CPUPerEvent is the CPU time, server and client, per event of the
	// runs of each kind, in ms: what the writers pay for a sequencer when
	// the machine has no CPU to spare. CPURatio is the one without over
	// the one with; 0 when unknown.
	UnsequencedCPUPerEvent float64 `json:"unsequenced_cpu_ms_per_event"`
	SequencedCPUPerEvent   float64 `json:"sequenced_cpu_ms_per_event"`
	CPURatio               float64 `json:"cpu_ratio"`
	Targets                struct {
		Ratio    float64 `json:"ratio"`
		LagP99Ms float64 `json:"lag_p99_ms"`
	} `json:"targets"`
}

// SequencerRun is one run: Writers goroutines commit N transactions, each
// inserting a business row and appending one event with AppendTx.
type SequencerRun struct {
	// Sequencer tells whether a sequencer ran: without one, the events
	// stay in the outbox.
	Sequencer bool `json:"sequencer"`
	// Committed is how many transactions committed, in CommitSeconds from
	// the first BEGIN to the last COMMIT.
	Committed     int64   `json:"committed"`
	CommitSeconds float64 `json:"commit_seconds"`
	// Seconds is the run's time: until the last commit without a
	// sequencer, until the last event was seen in the log with one.
	// EventsPerSecond is Committed over Seconds.
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"events_per_s"`
	// Rounds is how many sequencing transactions moved the events.
	Rounds uint64 `json:"rounds,omitempty"`
	// Lag is the time from each writer's commit to a Wait on the Log
	// returning a head at or past its event's seq (read back with Read
	// after the run).
	Lag Percentiles `json:"lag"`
	// ServerCPU is the CPU time (user and system) of the PostgreSQL
	// processes serving the run's connections (the writers', the reader's,
	// the Log's listener and sequencer) and ClientCPU that of this
	// process, over Seconds; both 0 when unknown (a server on another
	// machine, no /proc).
	ServerCPU float64 `json:"server_cpu_s"`
	ClientCPU float64 `json:"client_cpu_s"`
}

// Sequencer measures what the PostgreSQL sequencer costs the writers that
// feed it: cfg.Writers goroutines commit cfg.N transactions, each inserting
// a row into a business table and appending one event with AppendTx, once
// with no sequencer running (the events stay in the outbox) and once with
// one (the Log's own, in this process), and cfg.Pairs times each,
// alternately first. With the sequencer, a reader follows the feed's head
// with Wait, as a publisher's long polls do, and the run ends when the
// head has reached the last event; the events are read back afterwards,
// to learn when each one's seq was first seen.
func Sequencer(ctx context.Context, env *Env, cfg SequencerConfig) (*SequencerResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.Postgres == "" {
		return nil, errors.New("bench: sequencer: a PostgreSQL DSN is required")
	}
	cfg.N = cmp.Or(cfg.N, DefaultSequencerN)
	cfg.Writers = cmp.Or(cfg.Writers, DefaultSequencerWriters)
	cfg.Pairs = cmp.Or(cfg.Pairs, DefaultSequencerPairs)
	if cfg.N < 0 || cfg.Writers < 0 || cfg.Pairs < 0 {
		return nil, fmt.Errorf("bench: sequencer: negative setting in N %d, Writers %d, Pairs %d", cfg.N, cfg.Writers, cfg.Pairs)
	}
	res := &SequencerResult{Scenario: "sequencer", Machine: startMachine(), N: cfg.N, Writers: cfg.Writers}
	res.Targets.Ratio, res.Targets.LagP99Ms = TargetSequencerRatio, TargetSequencerLagMs
	var (
		lags           []time.Duration
		secs           [2]float64
		events         [2]int64
		cpu            [2]float64
		cpuKnown       = true
		sequencedFirst bool
	)
	for p := range cfg.Pairs {
		for _, seq := range []bool{sequencedFirst, !sequencedFirst} {
			env.logf("sequencer, pair %d, sequencer %v: %d transactions on %d writers", p+1, seq, cfg.N, cfg.Writers)
			run, runLags, err := sequencerRun(ctx, env, cfg, seq)
			if err != nil {
				return nil, fmt.Errorf("bench: sequencer, pair %d, sequencer %v: %w", p+1, seq, err)
			}
			env.logf("sequencer, pair %d, sequencer %v: %.0f events/s, lag p99 %.1f ms", p+1, seq, run.EventsPerSecond, run.Lag.P99)
			res.Runs = append(res.Runs, run)
			lags = append(lags, runLags...)
			k := 0
			if seq {
				k = 1
			}
			secs[k] += run.Seconds
			events[k] += run.Committed
			cpu[k] += run.ServerCPU + run.ClientCPU
			cpuKnown = cpuKnown && run.ServerCPU > 0 && run.ClientCPU > 0
		}
		sequencedFirst = !sequencedFirst
	}
	res.Unsequenced = float64(events[0]) / secs[0]
	res.Sequenced = float64(events[1]) / secs[1]
	res.Ratio = ratio(res.Sequenced, res.Unsequenced)
	res.Lag = summarize(lags)
	if cpuKnown {
		res.UnsequencedCPUPerEvent = 1000 * cpu[0] / float64(events[0])
		res.SequencedCPUPerEvent = 1000 * cpu[1] / float64(events[1])
		res.CPURatio = ratio(res.UnsequencedCPUPerEvent, res.SequencedCPUPerEvent)
	}
	res.Machine.finish()
	return res, nil
}

// seqFeed is the feed the sequencer scenario appends to.
const seqFeed = "orders"

// sequencerRun makes one run in a schema of its own, and returns the lag
// of each event when a sequencer ran.
func sequencerRun(ctx context.Context, env *Env, cfg SequencerConfig, sequencer bool) (SequencerRun, []time.Duration, error) {
	run := SequencerRun{Sequencer: sequencer}
	pcfg, err := pgxpool.ParseConfig(cfg.Postgres)
	if err != nil {
		return run, nil, fmt.Errorf("parse DSN: %w", err)
	}
	// A connection for each writer, and a few for the reader.
	pcfg.MaxConns = int32(cfg.Writers + 4)
	// The server processes of this run are told by their name.
	app := "eventfeed_bench_" + randomHex(6)
	pcfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return run, nil, err
	}
	defer pool.Close()
	schema := "eventfeed_bench_sequencer_" + randomHex(4)
	log, err := postgres.New(ctx, pool, postgres.Options{Schema: schema, NoSequencer: !sequencer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return run, nil, err
	}
	defer func() {
		log.Close()
		pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	}()
	orders := pgx.Identifier{schema, "bench_orders"}.Sanitize()
	if _, err := pool.Exec(ctx, `CREATE TABLE `+orders+` (
	id bigint PRIMARY KEY,
	subject text NOT NULL,
	amount bigint NOT NULL,
	placed timestamptz NOT NULL DEFAULT now()
)`); err != nil {
		return run, nil, fmt.Errorf("create business table: %w", err)
	}
	insert := `INSERT INTO ` + orders + ` (id, subject, amount) VALUES ($1, $2, $3)`
	if err := warmUp(ctx, pool, cfg.Writers+2, schema); err != nil {
		return run, nil, err
	}

	evs := make([]eventfeed.Event, cfg.N)
	index := make(map[string]int, cfg.N)
	for i := range evs {
		evs[i] = env.event(seqFeed, i)
		evs[i].Time = time.Time{} // stamped by AppendTx, as most writers leave it
		index[evs[i].ID] = i
	}
	committed := make([]time.Time, cfg.N)

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var seen []headSeen
	followed := make(chan error, 1)
	if sequencer {
		go func() {
			var err error
			seen, err = follow(rctx, log, uint64(cfg.N))
			followed <- err
		}()
	}

	var (
		next, done atomic.Int64
		firstErr   atomic.Pointer[error]
		wg         sync.WaitGroup
	)
	server0, sok := serverCPU(ctx, pool, app)
	client0, cerr := procCPU(os.Getpid())
	start := time.Now()
	for range cfg.Writers {
		wg.Go(func() {
			for rctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= cfg.N {
					return
				}
				err := pgx.BeginFunc(rctx, pool, func(tx pgx.Tx) error {
					if _, err := tx.Exec(rctx, insert, int64(i), evs[i].Subject, int64(i%1000)*100); err != nil {
						return err
					}
					return log.AppendTx(rctx, tx, evs[i])
				})
				committed[i] = time.Now()
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					cancel()
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	commitEnd := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return run, nil, *e
	}
	if err := ctx.Err(); err != nil {
		return run, nil, err
	}
	run.Committed = done.Load()
	run.CommitSeconds = commitEnd.Seconds()
	end := commitEnd
	if sequencer {
		if err := <-followed; err != nil {
			return run, nil, fmt.Errorf("follow the feed: %w", err)
		}
		end = seen[len(seen)-1].at.Sub(start)
	}
	server1, sok1 := serverCPU(ctx, pool, app)
	client1, cerr1 := procCPU(os.Getpid())
	if sok && sok1 && cerr == nil && cerr1 == nil {
		run.ServerCPU = (server1 - server0).Seconds()
		run.ClientCPU = (client1 - client0).Seconds()
	}
	var lags []time.Duration
	if sequencer {
		visible, err := seenAt(ctx, log, index, seen)
		if err != nil {
			return run, nil, err
		}
		lags = make([]time.Duration, cfg.N)
		for i := range lags {
			lags[i] = max(visible[i].Sub(committed[i]), 0)
		}
		run.Lag = summarize(slices.Clone(lags))
	}
	st, err := log.Stats(ctx)
	if err != nil {
		return run, nil, err
	}
	run.Rounds = st.Rounds
	if want := int64(cfg.N); sequencer && (st.Outbox != 0 || st.Rejected != 0) || !sequencer && (st.Outbox != want || st.SequencerAlive) {
		return run, nil, fmt.Errorf("after the run: %d events in the outbox, %d rejected, sequencer alive %v", st.Outbox, st.Rejected, st.SequencerAlive)
	}
	run.Seconds = end.Seconds()
	run.EventsPerSecond = perSecond(run.Committed, end)
	return run, lags, nil
}

// serverCPU returns the CPU time of the server processes of the
// connections named app, and whether it could read it: the server runs
// on this machine and /proc is readable.
func serverCPU(ctx context.Context, pool *pgxpool.Pool, app string) (time.Duration, bool) {
	rows, _ := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, app)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) == 0 {
		return 0, false
	}
	var total time.Duration
	for _, pid := range pids {
		d, err := procCPU(int(pid))
		if err != nil {
			return 0, false
		}
		total += d
	}
	return total, true
}

// warmUp opens n connections of pool at once and has each read the tables
// of schema, so that the runs measure a steady state rather than server
// processes starting and filling their caches.
func warmUp(ctx context.Context, pool *pgxpool.Pool, n int, schema string) error {
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	s := pgx.Identifier{schema}.Sanitize()
	for range n {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
		conns = append(conns, c)
		if _, err := c.Exec(ctx, `SELECT (SELECT count(*) FROM `+s+`.outbox) + (SELECT count(*) FROM `+s+`.events) + (SELECT count(*) FROM `+s+`.bench_orders)`); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}
	return nil
}

// headSeen is a head a Wait returned, and when.
type headSeen struct {
	at   time.Time
	head uint64
}

// follow waits for the head of the feed to pass each head it returned
// until it reaches last, and returns each head it saw and when.
func follow(ctx context.Context, log *postgres.Log, last uint64) ([]headSeen, error) {
	var (
		seen []headSeen
		head uint64
	)
	for head < last {
		f, err := log.Wait(ctx, seqFeed, head)
		if err != nil {
			return nil, err
		}
		head = f.Head
		seen = append(seen, headSeen{time.Now(), head})
	}
	return seen, nil
}

// seenAt reads the feed, every event of index, and returns when each was
// first seen: when follow first saw a head at or past its seq.
func seenAt(ctx context.Context, log *postgres.Log, index map[string]int, seen []headSeen) ([]time.Time, error) {
	visible := make([]time.Time, len(index))
	const chunk = 1000
	for from := uint64(1); from <= uint64(len(index)); from += chunk {
		evs, err := log.Read(ctx, seqFeed, from, from+chunk-1)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			i, ok := index[e.ID]
			if !ok || !visible[i].IsZero() {
				return nil, fmt.Errorf("event %s at seq %d: unknown or stored twice", e.ID, e.Seq)
			}
			k, _ := slices.BinarySearchFunc(seen, e.Seq, func(h headSeen, seq uint64) int { return cmp.Compare(h.head, seq) })
			if k == len(seen) {
				return nil, fmt.Errorf("event %s at seq %d: above every head seen", e.ID, e.Seq)
			}
			visible[i] = seen[k].at
		}
	}
	for i, t := range visible {
		if t.IsZero() {
			return nil, fmt.Errorf("event %s: not in the log", evID(index, i))
		}
	}
	return visible, nil
}

func evID(index map[string]int, i int) string {
	for id, j := range index {
		if j == i {
			return id
		}
	}
	return ""
}

// WriteTable prints r as a table.
func (r *SequencerResult) WriteTable(w io.Writer) error {
	t := table{
		title: fmt.Sprintf("sequencer: %d writers commit %d transactions per run (a business row and one AppendTx event of ~%d B each), without and with the PostgreSQL sequencer\n%s",
			r.Writers, r.N, eventSize, r.Machine.String()),
		header: []string{"run", "sequencer", "committed", "commit s", "seconds", "events/s", "server CPU s", "client CPU s", "rounds", "lag p50 ms", "lag p99 ms", "lag max ms"},
	}
	for i, run := range r.Runs {
		if run.Sequencer {
			t.add(n(int64(i+1)), "yes", n(run.Committed), f(run.CommitSeconds, 2), f(run.Seconds, 2), f(run.EventsPerSecond, 0),
				f(run.ServerCPU, 2), f(run.ClientCPU, 2), n(int64(run.Rounds)), f(run.Lag.P50, 1), f(run.Lag.P99, 1), f(run.Lag.Max, 1))
		} else {
			t.add(n(int64(i+1)), "no", n(run.Committed), f(run.CommitSeconds, 2), f(run.Seconds, 2), f(run.EventsPerSecond, 0),
				f(run.ServerCPU, 2), f(run.ClientCPU, 2), "", "", "", "")
		}
	}
	t.notes = []string{
		fmt.Sprintf("sequenced events/s ÷ committed transactions/s without a sequencer: %.0f / %.0f = %.2f (target >= %.2f)", r.Sequenced, r.Unsequenced, r.Ratio, r.Targets.Ratio),
		fmt.Sprintf("lag p99 over every sequenced event: %.1f ms (target <= %.0f ms); p50 %.1f ms, max %.1f ms", r.Lag.P99, r.Targets.LagP99Ms, r.Lag.P50, r.Lag.Max),
		fmt.Sprintf("CPU per event, server and client: %.3f ms without a sequencer, %.3f ms with; ratio %.2f (what the sequenced rate would be over the unsequenced one if CPU alone were short)", r.UnsequencedCPUPerEvent, r.SequencedCPUPerEvent, r.CPURatio),
		"seconds: to the last commit without a sequencer, to the head reaching the last event with one. lag: from a writer's commit to a Wait on the Log returning a head at or past its event's seq.",
	}
	return t.write(w)
}
