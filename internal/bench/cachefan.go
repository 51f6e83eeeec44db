package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/eventfeed/eventfeed/poller"
)

// CacheFanConfig configures the cachefan scenario.
type CacheFanConfig struct {
	// Events is how many events the feed holds; DefaultCacheFanEvents
	// when zero.
	Events int
	// Consumers is how many consumers catch up, one after another;
	// DefaultCacheFanConsumers when zero.
	Consumers int
	// PageSize is the feed's page size; DefaultCacheFanPageSize when zero.
	PageSize int
	// Nginx is the nginx binary. Required.
	Nginx string
	// Site is the nginx site configuration put in front of the publisher:
	// examples/nginx/eventfeed.conf, which startNginxProxy adapts. Required.
	Site []byte
}

// Defaults of CacheFanConfig.
const (
	DefaultCacheFanEvents    = 200_000
	DefaultCacheFanConsumers = 10
	DefaultCacheFanPageSize  = 100
)

// Targets of the cachefan scenario.
const (
	// TargetCacheFanCPURatio bounds the publisher's CPU time spent on
	// consumers 2..N together over that spent on consumer 1.
	TargetCacheFanCPURatio = 0.05
	// TargetCacheFanSpeedRatio bounds each later consumer's events/s over
	// the first's from below.
	TargetCacheFanSpeedRatio = 1.0
)

// CacheFanResult is the outcome of the cachefan scenario.
type CacheFanResult struct {
	Scenario  string             `json:"scenario"`
	Machine   Machine            `json:"machine"`
	Events    int                `json:"events"`
	PageSize  int                `json:"page_size"`
	Nginx     string             `json:"nginx"`
	Consumers []CacheFanConsumer `json:"consumers"`
	// FirstCPUSeconds is the publisher's CPU time during consumer 1's
	// catch-up; LaterCPUSeconds during those of consumers 2..N together.
	FirstCPUSeconds float64 `json:"first_cpu_s"`
	LaterCPUSeconds float64 `json:"later_cpu_s"`
	// CPURatio is LaterCPUSeconds / FirstCPUSeconds: the headline.
	CPURatio float64 `json:"cpu_ratio"`
	// IdleCPUPerSecond is the publisher's CPU time per second of wall
	// time while no one reads, measured over IdleSeconds before consumer
	// 1: what it spends whatever the consumers do.
	IdleSeconds      float64 `json:"idle_s"`
	IdleCPUPerSecond float64 `json:"idle_cpu_per_s"`
	// SlowestSpeedRatio is the smallest SpeedRatio of consumers 2..N; 0
	// with one consumer.
	SlowestSpeedRatio float64 `json:"slowest_speed_ratio"`
	Targets           struct {
		CPURatio   float64 `json:"cpu_ratio"`
		SpeedRatio float64 `json:"speed_ratio"`
	} `json:"targets"`
}

// CacheFanConsumer is the catch-up of one consumer through nginx.
type CacheFanConsumer struct {
	Consumer int `json:"consumer"` // 1 for the first
	// Events and Pages are what the poller applied and fetched (its
	// Stats); ReplicaSeq is the seq of its replica's checkpoint afterwards.
	Events          uint64  `json:"events"`
	Pages           uint64  `json:"pages"`
	ReplicaSeq      uint64  `json:"replica_seq"`
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"events_per_s"`
	// SpeedRatio is EventsPerSecond / consumer 1's.
	SpeedRatio float64 `json:"speed_ratio"`
	// PublisherCPUSeconds is the publisher's CPU time (user + system)
	// during this catch-up.
	PublisherCPUSeconds float64 `json:"publisher_cpu_s"`
	// Requests counts the poller's responses by nginx's X-Cache-Status
	// (HIT, MISS, REVALIDATED, …; "none" when absent).
	Requests map[string]int64 `json:"requests"`
}

// CacheFan measures what nginx's cache, configured by
// examples/nginx/eventfeed.conf, saves the publisher: consumers catch up
// one after another through nginx with a feed of cfg.Events events served
// by a publisher on SQLite in a child process, each into a fresh SQLite
// replica, and the publisher's CPU time is read before and after each.
func CacheFan(ctx context.Context, env *Env, cfg CacheFanConfig) (*CacheFanResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.Events == 0 {
		cfg.Events = DefaultCacheFanEvents
	}
	if cfg.Consumers == 0 {
		cfg.Consumers = DefaultCacheFanConsumers
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultCacheFanPageSize
	}
	switch {
	case cfg.Events < 0 || cfg.Consumers < 0 || cfg.PageSize < 0:
		return nil, fmt.Errorf("bench: cachefan: %d events, %d consumers, page size %d", cfg.Events, cfg.Consumers, cfg.PageSize)
	case cfg.Nginx == "":
		return nil, errors.New("bench: cachefan: no nginx binary")
	case len(cfg.Site) == 0:
		return nil, errors.New("bench: cachefan: no nginx site configuration")
	}
	res := &CacheFanResult{Scenario: "cachefan", Machine: startMachine(), Events: cfg.Events, PageSize: cfg.PageSize, Nginx: cfg.Nginx}
	res.Targets.CPURatio = TargetCacheFanCPURatio
	res.Targets.SpeedRatio = TargetCacheFanSpeedRatio

	db := filepath.Join(env.Dir, "cachefan.db")
	env.logf("cachefan: seeding %d events", cfg.Events)
	if err := env.seed(ctx, db, benchFeed, cfg.Events, cfg.PageSize); err != nil {
		return nil, err
	}
	pub, err := env.startServe(ctx, "-db", db, "-page-size", fmt.Sprint(cfg.PageSize))
	if err != nil {
		return nil, err
	}
	defer func() {
		if pub != nil {
			pub.kill()
		}
	}()
	proxy, err := startNginxProxy(ctx, cfg.Nginx, filepath.Join(env.Dir, "nginx"), cfg.Site, pub.addr)
	if err != nil {
		return nil, err
	}
	defer proxy.stop()
	source := "http://" + proxy.addr + "/feeds/" + benchFeed

	before, err := procCPU(pub.pid())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	select {
	case <-time.After(cacheFanIdle):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	after, err := procCPU(pub.pid())
	if err != nil {
		return nil, err
	}
	idle := time.Since(start)
	res.IdleSeconds = idle.Seconds()
	res.IdleCPUPerSecond = (after - before).Seconds() / idle.Seconds()

	for i := 1; i <= cfg.Consumers; i++ {
		c, err := cacheFanConsumer(ctx, env, source, pub.pid(), i)
		if err != nil {
			return nil, err
		}
		if i == 1 {
			res.FirstCPUSeconds = c.PublisherCPUSeconds
		} else {
			res.LaterCPUSeconds += c.PublisherCPUSeconds
		}
		res.Consumers = append(res.Consumers, c)
	}
	if _, err := pub.stop(); err != nil {
		pub = nil
		return nil, err
	}
	pub = nil
	first := res.Consumers[0].EventsPerSecond
	for i := range res.Consumers {
		c := &res.Consumers[i]
		c.SpeedRatio = ratio(c.EventsPerSecond, first)
		if i > 0 && (i == 1 || c.SpeedRatio < res.SlowestSpeedRatio) {
			res.SlowestSpeedRatio = c.SpeedRatio
		}
	}
	res.CPURatio = ratio(res.LaterCPUSeconds, res.FirstCPUSeconds)
	res.Machine.finish()
	return res, nil
}

// cacheFanIdle is how long the publisher's CPU time is read with no one
// reading.
const cacheFanIdle = 3 * time.Second

// cacheFanConsumer catches up with the feed at source into a fresh
// replica, reading the CPU time of the publisher (process pid) around it.
func cacheFanConsumer(ctx context.Context, env *Env, source string, pid, i int) (CacheFanConsumer, error) {
	c := CacheFanConsumer{Consumer: i}
	replica, err := openReplica(ctx, filepath.Join(env.Dir, fmt.Sprintf("cachefan-replica-%d.db", i)))
	if err != nil {
		return c, err
	}
	defer replica.Close()
	var w wire
	client := w.client(4)
	defer client.CloseIdleConnections()
	statuses := &cacheStatuses{next: client.Transport, n: map[string]int64{}}
	client.Transport = statuses
	p, err := poller.New(source, replica, poller.Config{Client: client})
	if err != nil {
		return c, err
	}
	before, err := procCPU(pid)
	if err != nil {
		return c, err
	}
	start := time.Now()
	if err := p.Sync(ctx); err != nil {
		return c, fmt.Errorf("bench: consumer %d: catch-up: %w", i, err)
	}
	elapsed := time.Since(start)
	after, err := procCPU(pid)
	if err != nil {
		return c, err
	}
	st := p.Stats()
	cp, err := replica.Checkpoint(ctx, source)
	if err != nil {
		return c, err
	}
	c.Events, c.Pages, c.ReplicaSeq = st.Events, st.Pages, cp.Seq
	c.Seconds = elapsed.Seconds()
	c.EventsPerSecond = perSecond(int64(st.Events), elapsed)
	c.PublisherCPUSeconds = (after - before).Seconds()
	c.Requests = statuses.counts()
	env.logf("cachefan, consumer %d: %.0f events/s, publisher CPU %.2f s, %v", i, c.EventsPerSecond, c.PublisherCPUSeconds, c.Requests)
	return c, nil
}

// cacheStatuses counts responses by their X-Cache-Status header, which
// examples/nginx/eventfeed.conf adds.
type cacheStatuses struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int64
}

func (s *cacheStatuses) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	status := resp.Header.Get("X-Cache-Status")
	if status == "" {
		status = "none"
	}
	s.mu.Lock()
	s.n[status]++
	s.mu.Unlock()
	return resp, nil
}

func (s *cacheStatuses) counts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.n)
}

// CloseIdleConnections closes the idle connections of the transport
// underneath, for http.Client.CloseIdleConnections.
func (s *cacheStatuses) CloseIdleConnections() {
	if c, ok := s.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
