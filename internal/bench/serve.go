package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
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
	// Wrk is the wrk binary, run beside the Go load generator with one
	// thread and the same connections; empty skips it.
	Wrk string
}

// Defaults of ServeConfig.
const (
	DefaultServeDuration    = 5 * time.Second
	DefaultServeConnections = 32
	DefaultServePageSize    = 100
)

// Targets of eventfeed's requests/s over nginx's, with either load
// generator.
const (
	TargetServeRatio            = 0.85 // full page
	TargetServeNotModifiedRatio = 0.95 // 304 at the head
)

// ServeResult is the outcome of the serve scenario.
type ServeResult struct {
	Scenario    string  `json:"scenario"`
	Machine     Machine `json:"machine"`
	Connections int     `json:"connections"`
	Seconds     float64 `json:"seconds_each"`
	// PageBytes is the size of the full page (identity coding).
	PageBytes int `json:"page_bytes"`
	// Nginx is the nginx binary compared with, "" when none was.
	Nginx string `json:"nginx,omitempty"`
	// Wrk is the wrk binary that loaded both servers too, "" when none did.
	Wrk   string      `json:"wrk,omitempty"`
	Kinds []ServeKind `json:"kinds"`
}

// ServeKind is one kind of request, served by eventfeed and by nginx,
// under one load generator.
type ServeKind struct {
	// Kind is "full page" (an archive page from the page cache) or "304"
	// (a conditional GET of the subscription document at the head).
	Kind string `json:"kind"`
	// Client is the load generator: "go" (this process, see load) or
	// "wrk".
	Client    string      `json:"client"`
	Eventfeed LoadResult  `json:"eventfeed"`
	Nginx     *LoadResult `json:"nginx,omitempty"`
	// NetHTTP is a plain net/http handler serving the same bytes from
	// memory (FloorHandler), with the publisher's server settings: what
	// net/http costs before any work of the publisher.
	NetHTTP LoadResult `json:"net_http"`
	// Ratio is Eventfeed.PerSecond / Nginx.PerSecond; Target its target.
	Ratio  float64 `json:"ratio,omitempty"`
	Target float64 `json:"target"`
	// NetHTTPRatio is Eventfeed.PerSecond / NetHTTP.PerSecond.
	NetHTTPRatio float64 `json:"net_http_ratio"`
	// CPURatio and NetHTTPCPURatio compare server CPU time per request,
	// in the sense of Ratio (nginx's or net/http's over eventfeed's: 1
	// means as cheap): a figure that depends much less than req/s on
	// how the cores are shared. 0 when not measured.
	CPURatio        float64 `json:"cpu_ratio,omitempty"`
	NetHTTPCPURatio float64 `json:"net_http_cpu_ratio,omitempty"`
}

// cpuPerRequest returns the server CPU seconds per request of l, 0 when
// not measured.
func (l *LoadResult) cpuPerRequest() float64 {
	if l == nil || l.PerSecond == 0 {
		return 0
	}
	return l.ServerCPU / l.PerSecond
}

// Serve measures requests per second and their latency for a full page
// served from the publisher's cache and for a 304 at the head, from a
// publisher in a child process; and beside it, with the same load
// generator in the same run, nginx serving the same bytes from files with
// its own ETag. Each is measured with the Go load generator of this
// package and, when cfg.Wrk names it, with wrk; the CPU time of server
// and load generator is read around each measurement, for they share the
// machine's cores.
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
	res := &ServeResult{Scenario: "serve", Machine: startMachine(), Connections: cfg.Connections, Seconds: cfg.Duration.Seconds(), Nginx: env.Nginx, Wrk: cfg.Wrk}

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
		pid      int    // of the process that serves
		full     string // path of the full page
		head     string // path of the document answered 304
		etag     string // the head's ETag
		fullSize int64
	}
	ef := target{
		addr:     pub.addr,
		pid:      pub.pid(),
		full:     u.RequestURI(),
		head:     "/feeds/" + benchFeed,
		etag:     head.etag,
		fullSize: int64(len(page.body)),
	}
	// The plain net/http server, with the same bytes.
	floorDir := filepath.Join(env.Dir, "floor")
	if err := os.MkdirAll(floorDir, 0o755); err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{"page.xml": page.body, "head.xml": head.body} {
		if err := os.WriteFile(filepath.Join(floorDir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	floor, err := env.startChild(ctx, "bench", "floor", "-addr", "127.0.0.1:0", floorDir)
	if err != nil {
		return nil, err
	}
	defer floor.kill()
	fh, err := get(ctx, floor.addr, request("GET", floor.addr, "/head.xml", nil))
	if err != nil {
		return nil, err
	}
	if fh.status != 200 || fh.etag == "" {
		return nil, fmt.Errorf("bench: net/http GET /head.xml: status %d, ETag %q", fh.status, fh.etag)
	}
	nh := &target{addr: floor.addr, pid: floor.pid(), full: "/page.xml", head: "/head.xml", etag: fh.etag, fullSize: int64(len(page.body))}

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
			pid:      n.worker(),
			full:     "/page.xml",
			head:     "/head.xml",
			etag:     h.etag,
			fullSize: int64(len(page.body)),
		}
	}

	warmup := min(cfg.Duration/5, time.Second)
	// measure applies one load to t: the full page, or the head with its
	// ETag (answered 304).
	measure := func(who, client string, t *target, notMod bool) (LoadResult, error) {
		path, header, status, size := t.full, "", 200, t.fullSize
		if notMod {
			path, header, status, size = t.head, "If-None-Match: "+t.etag, 304, 0
		}
		var (
			r   LoadResult
			err error
		)
		if client == "wrk" {
			var before time.Duration
			if t.pid != 0 {
				before, _ = procCPU(t.pid)
			}
			r, err = wrkLoad{
				bin: cfg.Wrk, url: "http://" + t.addr + path, header: header,
				conns: cfg.Connections, warmup: warmup, duration: cfg.Duration,
			}.run(ctx)
			if t.pid != 0 && err == nil {
				after, _ := procCPU(t.pid)
				r.ServerCPU = (after - before).Seconds() / r.Seconds
			}
			// wrk checks no status but 2xx/3xx, nor any body: the bytes it
			// read, headers included (which it prints to three figures),
			// tell a full page from a 304.
			if per := r.MBPerSecond * (1 << 20) / r.PerSecond; err == nil && r.Errors == 0 && (per < float64(t.fullSize)/2) != notMod {
				r.Errors, r.FirstError = r.Requests, fmt.Sprintf("%.0f bytes read per response, not those of a %d", per, status)
			}
		} else {
			var hdr []string
			if header != "" {
				hdr = []string{header}
			}
			r, err = load{
				addr: t.addr, req: request("GET", t.addr, path, nil, hdr...), status: status, bodyLen: size,
				conns: cfg.Connections, warmup: warmup, duration: cfg.Duration, server: t.pid,
			}.run(ctx)
		}
		if err == nil {
			env.logf("serve, %s, %s: %.0f req/s", who, client, r.PerSecond)
		}
		return r, err
	}
	clients := []string{"go"}
	if cfg.Wrk != "" {
		clients = append(clients, "wrk")
	}
	i := 0
	for _, kind := range []struct {
		name   string
		notMod bool
		target float64
	}{
		{"full page", false, TargetServeRatio},
		{"304", true, TargetServeNotModifiedRatio},
	} {
		for _, client := range clients {
			k := ServeKind{Kind: kind.name, Client: client, Target: kind.target}
			// Rotate who goes first, so that none always meets the machine
			// in the same state.
			order := []string{"eventfeed", "nginx", "net/http"}
			order = append(order[i%3:], order[:i%3]...)
			i++
			for _, who := range order {
				switch {
				case who == "eventfeed":
					if k.Eventfeed, err = measure(who+", "+kind.name, client, &ef, kind.notMod); err != nil {
						return nil, err
					}
				case who == "net/http":
					if k.NetHTTP, err = measure(who+", "+kind.name, client, nh, kind.notMod); err != nil {
						return nil, err
					}
				case ng != nil:
					r, err := measure(who+", "+kind.name, client, ng, kind.notMod)
					if err != nil {
						return nil, err
					}
					k.Nginx = &r
				}
			}
			if k.Nginx != nil {
				k.Ratio = ratio(k.Eventfeed.PerSecond, k.Nginx.PerSecond)
				k.CPURatio = ratio(k.Nginx.cpuPerRequest(), k.Eventfeed.cpuPerRequest())
			}
			k.NetHTTPRatio = ratio(k.Eventfeed.PerSecond, k.NetHTTP.PerSecond)
			k.NetHTTPCPURatio = ratio(k.NetHTTP.cpuPerRequest(), k.Eventfeed.cpuPerRequest())
			res.Kinds = append(res.Kinds, k)
		}
	}
	if _, err := floor.stop(); err != nil {
		return nil, err
	}
	if _, err := pub.stop(); err != nil {
		return nil, err
	}
	res.Machine.finish()
	return res, nil
}
