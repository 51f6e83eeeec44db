package bench

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"time"
)

// ServeConfig configures the serve scenario.
type ServeConfig struct {
	// Duration is how long each measurement lasts, after a warm-up of a
	// fifth of it (at most a second); DefaultServeDuration when zero.
	Duration time.Duration
	// Connections is how many keep-alive connections the load generator
	// keeps busy; DefaultServeConnections when zero.
	Connections int
	// PageSize is the page size of the feed served, whose first page is
	// the full page requested; DefaultServePageSize when zero.
	PageSize int
}

// Defaults of ServeConfig.
const (
	DefaultServeDuration    = 5 * time.Second
	DefaultServeConnections = 32
	DefaultServePageSize    = 100
)

// TargetServeRatio is the target of eventfeed's requests/s over nginx's.
const TargetServeRatio = 0.8

// ServeResult is the outcome of the serve scenario.
type ServeResult struct {
	Scenario    string  `json:"scenario"`
	Machine     Machine `json:"machine"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds_each"`
	// PageBytes is the size of the full page (identity coding).
	PageBytes int `json:"page_bytes"`
	// Nginx is the nginx binary compared with, "" when none was.
	Nginx   string      `json:"nginx,omitempty"`
	Kinds   []ServeKind `json:"kinds"`
	Targets struct {
		Ratio float64 `json:"ratio"`
	} `json:"targets"`
}

// ServeKind is one kind of request, served by eventfeed and by nginx.
type ServeKind struct {
	// Kind is "full page" (an archive page from the page cache) or "304"
	// (a conditional GET of the subscription document at the head).
	Kind      string      `json:"kind"`
	Eventfeed LoadResult  `json:"eventfeed"`
	Nginx     *LoadResult `json:"nginx,omitempty"`
	// Ratio is Eventfeed.PerSecond / Nginx.PerSecond.
	Ratio float64 `json:"ratio,omitempty"`
}

// Serve measures requests per second and their latency for a full page
// served from the publisher's cache and for a 304 at the head, from a
// publisher in a child process; and beside it, with the same load
// generator in the same run, nginx serving the same bytes from files with
// its own ETag.
func Serve(ctx context.Context, env *Env, cfg ServeConfig) (*ServeResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultServeDuration
	}
	if cfg.Connections == 0 {
		cfg.Connections = DefaultServeConnections
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultServePageSize
	}
	if cfg.Duration < 0 || cfg.Connections < 0 || cfg.PageSize < 0 {
		return nil, fmt.Errorf("bench: serve: negative setting in %+v", cfg)
	}
	res := &ServeResult{Scenario: "serve", Machine: startMachine(), Connections: cfg.Connections, Seconds: cfg.Duration.Seconds(), Nginx: env.Nginx}
	res.Targets.Ratio = TargetServeRatio

	// Two full pages and half a working page.
	db := filepath.Join(env.Dir, "serve.db")
	if err := env.seed(ctx, db, benchFeed, 2*cfg.PageSize+cfg.PageSize/2, cfg.PageSize); err != nil {
		return nil, err
	}
	pub, err := env.startServe(ctx, "-db", db)
	if err != nil {
		return nil, err
	}
	defer pub.kill()

	// The documents and their validators, as a client would find them.
	sub := "http://" + pub.addr + "/feeds/" + benchFeed
	head, err := get(ctx, pub.addr, request("GET", pub.addr, "/feeds/"+benchFeed, nil))
	if err != nil {
		return nil, err
	}
	if head.status != 200 || head.etag == "" {
		return nil, fmt.Errorf("bench: GET %s: status %d, ETag %q", sub, head.status, head.etag)
	}
	first, err := linkHref(head.body, "first", sub)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(first)
	if err != nil {
		return nil, err
	}
	page, err := get(ctx, pub.addr, request("GET", pub.addr, u.RequestURI(), nil))
	if err != nil {
		return nil, err
	}
	if page.status != 200 {
		return nil, fmt.Errorf("bench: GET %s: status %d", first, page.status)
	}
	res.PageBytes = len(page.body)

	type target struct {
		addr     string
		full     []byte // request of the full page
		notMod   []byte // conditional request answered 304
		fullSize int64
	}
	ef := target{
		addr:     pub.addr,
		full:     request("GET", pub.addr, u.RequestURI(), nil),
		notMod:   request("GET", pub.addr, "/feeds/"+benchFeed, nil, "If-None-Match: "+head.etag),
		fullSize: int64(len(page.body)),
	}
	var ng *target
	if env.Nginx != "" {
		n, err := startNginx(ctx, env.Nginx, filepath.Join(env.Dir, "nginx"), map[string][]byte{
			"page.xml": page.body,
			"head.xml": head.body,
		})
		if err != nil {
			return nil, err
		}
		defer n.stop()
		h, err := get(ctx, n.addr, request("GET", n.addr, "/head.xml", nil))
		if err != nil {
			return nil, err
		}
		if h.status != 200 || h.etag == "" {
			return nil, fmt.Errorf("bench: nginx GET /head.xml: status %d, ETag %q", h.status, h.etag)
		}
		ng = &target{
			addr:     n.addr,
			full:     request("GET", n.addr, "/page.xml", nil),
			notMod:   request("GET", n.addr, "/head.xml", nil, "If-None-Match: "+h.etag),
			fullSize: int64(len(page.body)),
		}
	}

	warmup := min(cfg.Duration/5, time.Second)
	measure := func(who string, t *target, req []byte, status int, size int64) (LoadResult, error) {
		r, err := load{
			addr: t.addr, req: req, status: status, bodyLen: size,
			conns: cfg.Connections, warmup: warmup, duration: cfg.Duration,
		}.run(ctx)
		if err == nil {
			env.logf("serve, %s: %.0f req/s", who, r.PerSecond)
		}
		return r, err
	}
	for i, kind := range []struct {
		name   string
		status int
		req    func(*target) []byte
		size   func(*target) int64
	}{
		{"full page", 200, func(t *target) []byte { return t.full }, func(t *target) int64 { return t.fullSize }},
		{"304", 304, func(t *target) []byte { return t.notMod }, func(*target) int64 { return 0 }},
	} {
		k := ServeKind{Kind: kind.name}
		// Alternate who goes first, so that neither always meets the
		// machine in the same state.
		order := []string{"eventfeed", "nginx"}
		if i%2 == 1 {
			order = []string{"nginx", "eventfeed"}
		}
		for _, who := range order {
			switch {
			case who == "eventfeed":
				if k.Eventfeed, err = measure(who+", "+kind.name, &ef, kind.req(&ef), kind.status, kind.size(&ef)); err != nil {
					return nil, err
				}
			case ng != nil:
				r, err := measure(who+", "+kind.name, ng, kind.req(ng), kind.status, kind.size(ng))
				if err != nil {
					return nil, err
				}
				k.Nginx = &r
			}
		}
		if k.Nginx != nil {
			k.Ratio = ratio(k.Eventfeed.PerSecond, k.Nginx.PerSecond)
		}
		res.Kinds = append(res.Kinds, k)
	}
	if _, err := pub.stop(); err != nil {
		return nil, err
	}
	res.Machine.finish()
	return res, nil
}
