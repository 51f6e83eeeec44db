package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed/publisher"
)

// FanoutConfig configures the fanout scenario.
type FanoutConfig struct {
	// Consumers is how many long polls wait at once;
	// DefaultFanoutConsumers when zero.
	Consumers int
}

// DefaultFanoutConsumers is the default of FanoutConfig.Consumers.
const DefaultFanoutConsumers = 10_000

// Targets of the fanout scenario.
const (
	TargetFanoutBytesPerConsumer = 20 << 10
	TargetFanoutWakeAll          = time.Second
)

// FanoutResult is the outcome of the fanout scenario.
type FanoutResult struct {
	Scenario  string  `json:"scenario"`
	Machine   Machine `json:"machine"`
	Consumers int     `json:"consumers"`
	// Waiting is how many consumers were still waiting when the event was
	// appended (the others were answered early: see Early).
	Waiting int `json:"waiting"`
	// Early counts consumers answered before the append, and Failed those
	// whose answer was not a 200 with the new entry (or no answer).
	Early  int `json:"early"`
	Failed int `json:"failed"`
	// Woken is how many consumers received the new entry.
	Woken int `json:"woken"`

	// RSSBefore and RSSWaiting are the publisher's RSS before the
	// consumers connected and while they all waited; BytesPerConsumer is
	// the difference divided by Consumers.
	RSSBefore        int64   `json:"rss_before_bytes"`
	RSSWaiting       int64   `json:"rss_waiting_bytes"`
	BytesPerConsumer float64 `json:"bytes_per_consumer"`

	// Wake is, per consumer, the time from the append (sending the POST)
	// to having read the whole answer; Wake.Max is the time until all
	// had it.
	Wake Percentiles `json:"wake"`
	// ConnectSeconds is how long connecting and sending every long poll took.
	ConnectSeconds float64 `json:"connect_seconds"`
	Targets        struct {
		BytesPerConsumer float64 `json:"bytes_per_consumer"`
		WakeAllMs        float64 `json:"wake_all_ms"`
	} `json:"targets"`
}

// Fanout measures cfg.Consumers idle long polls on a publisher in a child
// process: the memory each costs it, then the time from one append until
// every consumer has the new entry.
func Fanout(ctx context.Context, env *Env, cfg FanoutConfig) (*FanoutResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.Consumers == 0 {
		cfg.Consumers = DefaultFanoutConsumers
	}
	if cfg.Consumers < 0 {
		return nil, fmt.Errorf("bench: fanout: %d consumers", cfg.Consumers)
	}
	res := &FanoutResult{Scenario: "fanout", Machine: startMachine(), Consumers: cfg.Consumers}
	res.Targets.BytesPerConsumer = TargetFanoutBytesPerConsumer
	res.Targets.WakeAllMs = ms(TargetFanoutWakeAll)

	// One connection per consumer here and in the publisher (which
	// inherits the limit), and a few more.
	if got, err := raiseNoFile(uint64(cfg.Consumers) + 256); err != nil || got < uint64(cfg.Consumers)+64 {
		return nil, fmt.Errorf("bench: fanout: open files limit %d is too low for %d consumers (%v)", got, cfg.Consumers, err)
	}
	db := filepath.Join(env.Dir, "fanout.db")
	if err := env.seed(ctx, db, benchFeed, 10, 100); err != nil {
		return nil, err
	}
	token := randomHex(16)
	pub, err := env.startServe(ctx, "-db", db, "-max-wait", "10m", "-append-token", token)
	if err != nil {
		return nil, err
	}
	defer pub.kill()
	head, err := get(ctx, pub.addr, request("GET", pub.addr, "/feeds/"+benchFeed, nil))
	if err != nil {
		return nil, err
	}
	if head.status != 200 || head.etag == "" {
		return nil, fmt.Errorf("bench: fanout: GET /feeds/%s: status %d, ETag %q", benchFeed, head.status, head.etag)
	}
	time.Sleep(200 * time.Millisecond)
	if res.RSSBefore, _, err = procMemory(pub.pid()); err != nil {
		return nil, err
	}

	// Each consumer is a connection and a goroutine that reads the answer
	// to its long poll. The goroutines wait on appended before looking at
	// the clock, so that reading the time costs nothing while they wait.
	poll := request("GET", pub.addr, "/feeds/"+benchFeed, nil,
		"If-None-Match: "+head.etag, "Prefer: wait=600")
	env.logf("fanout: connecting %d long polls", cfg.Consumers)
	var (
		wg       sync.WaitGroup
		early    atomic.Int64
		appended = make(chan struct{})
		id       = "urn:uuid:" + randomHex(16)
		entryID  = publisher.KeyID(benchFeed, id) // the ID the append gets
		results  = make([]fanoutAnswer, cfg.Consumers)
		conns    = make([]*rawConn, cfg.Consumers)
	)
	start := time.Now()
	// One dial at a time, which stays within the listen backlog.
	var dialErr error
	for i := range cfg.Consumers {
		c, err := dialRaw(ctx, pub.addr, 2<<10)
		if err == nil {
			_, err = c.Write(poll)
		}
		if err != nil {
			dialErr = err
			break
		}
		conns[i] = c
		wg.Go(func() {
			a := &results[i]
			var resp response
			a.err = c.read(&resp, false, true, false)
			select {
			case <-appended:
			default:
				early.Add(1)
				a.early = true
			}
			a.at = time.Now()
			a.status = resp.status
			a.hasEntry = bytes.Contains(resp.body, []byte(entryID))
		})
	}
	closeAll := func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		wg.Wait()
	}
	if dialErr != nil {
		closeAll()
		return nil, fmt.Errorf("bench: fanout: connect: %w", dialErr)
	}
	res.ConnectSeconds = time.Since(start).Seconds()

	// Wait until the publisher's memory settles: every request read and
	// parked.
	rss, err := settle(ctx, pub.pid())
	if err != nil {
		closeAll()
		return nil, err
	}
	res.RSSWaiting = rss
	res.BytesPerConsumer = float64(res.RSSWaiting-res.RSSBefore) / float64(cfg.Consumers)
	res.Early = int(early.Load())
	res.Waiting = cfg.Consumers - res.Early
	env.logf("fanout: %d waiting, %.0f bytes each; appending", res.Waiting, res.BytesPerConsumer)

	post := request("POST", pub.addr, "/feeds/"+benchFeed, env.event(benchFeed, 10).Data,
		"Authorization: Bearer "+token, "Content-Type: application/json",
		"Event-Type: item.updated", `Idempotency-Key: "`+id+`"`)
	pc, err := dialRaw(ctx, pub.addr, 4<<10)
	if err != nil {
		closeAll()
		return nil, err
	}
	defer pc.Close()
	close(appended)
	t0 := time.Now()
	var presp response
	if err := pc.do(post, &presp, false, false); err != nil || presp.status != 201 {
		closeAll()
		return nil, fmt.Errorf("bench: fanout: append: status %d, %v", presp.status, err)
	}
	// Every consumer is answered by now or soon; those that are not after
	// a minute count as failed.
	waited := make(chan struct{})
	go func() {
		wg.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(time.Minute):
	case <-ctx.Done():
	}
	closeAll()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var wakes []time.Duration
	for _, a := range results {
		switch {
		case a.early:
		case a.err == nil && a.status == 200 && a.hasEntry:
			res.Woken++
			wakes = append(wakes, a.at.Sub(t0))
		default:
			res.Failed++
		}
	}
	res.Wake = summarize(wakes)
	env.logf("fanout: %d woken, all within %.1f ms", res.Woken, res.Wake.Max)
	if _, err := pub.stop(); err != nil {
		return nil, err
	}
	res.Machine.finish()
	return res, nil
}

// fanoutAnswer is what one consumer received.
type fanoutAnswer struct {
	at       time.Time
	status   int
	hasEntry bool
	early    bool
	err      error
}

// settle waits until the RSS of process pid has changed by less than 1%
// (or 256 KiB) over two quarters of a second in a row, at most 30 s, and
// returns it.
func settle(ctx context.Context, pid int) (int64, error) {
	prev, _, err := procMemory(pid)
	if err != nil {
		return 0, err
	}
	stable := 0
	for range 120 {
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		rss, _, err := procMemory(pid)
		if err != nil {
			return 0, err
		}
		if d := max(rss-prev, prev-rss); d < max(prev/100, 256<<10) {
			stable++
		} else {
			stable = 0
		}
		if stable == 2 {
			return rss, nil
		}
		prev = rss
	}
	return prev, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
