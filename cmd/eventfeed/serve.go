package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/metrics"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/postgres"
)

// shutdownGrace bounds how long serve waits for requests in flight when it
// is told to stop.
const shutdownGrace = 10 * time.Second

// maxHeaderBytes bounds a request's header (net/http's default is 1 MiB):
// feed requests carry a few short fields, a bearer token the longest.
const maxHeaderBytes = 64 << 10

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[-db events.db | -postgres DSN] [-create] [-encrypt] [-kek-file F] [-addr 127.0.0.1:8080] [-metrics-addr ADDR] [-page-size 100] [-append-token-file F] [-key-token-file F]", stderr)
	lf := addLogFlags(fs)
	fs.BoolVar(&lf.encrypt, "encrypt", false, "feeds created by appends through this server are encrypted, and appends to encrypted feeds are accepted (see eventfeed append -encrypt)")
	addr := fs.String("addr", "127.0.0.1:8080", "`address` to listen on (port 0 picks a free one)")
	pageSize := fs.Int("page-size", store.DefaultPageSize, "entries per page of feeds created by appends through this server; when given, a feed stored with another size is refused (its pages are cached forever)")
	maxAge := fs.Duration("max-age", 0, "Cache-Control max-age of the subscription document and working page")
	maxWait := fs.Duration("max-wait", 0, "longest long poll granted to Prefer: wait (default: the publisher's)")
	bodyTimeout := fs.Duration("body-timeout", publisher.DefaultBodyTimeout, "longest time to read a request's body; a slower one is answered 408 and its connection closed")
	appendToken := addSecretFlag(fs, "append-token", "EVENTFEED_APPEND_TOKEN", "enables AtomPub POST (appends) for requests carrying it")
	keyToken := addSecretFlag(fs, "key-token", "EVENTFEED_KEY_TOKEN", "lets requests carrying it read the keys of encrypted feeds at /feeds/{feed}/keys/{subject}")
	browse := fs.Bool("browse", true, "serve HTML views of the feeds for web browsers at /feeds/~/")
	verbose := fs.Bool("v", false, "log every request to stderr")
	metricsAddr := fs.String("metrics-addr", "", "`address` to serve Prometheus metrics on, at /metrics (default: none)")
	create := fs.Bool("create", false, "serve an empty log when the -db file does not exist, creating it (default: refuse, as a mistyped name would serve nothing)")
	baseURL := fs.String("base-url", "", "absolute `URL` the feeds are reachable at, such as https://example.com/feeds/, for absolute links (RSS and JSON Feed want them); default relative links")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	token, err := appendToken.get()
	if err != nil {
		return err
	}
	keys, err := keyToken.get()
	if err != nil {
		return err
	}
	if err := checkAddr("addr", *addr); err != nil {
		return err
	}
	if *metricsAddr != "" {
		if err := checkAddr("metrics-addr", *metricsAddr); err != nil {
			return err
		}
	}
	if *pageSize < 1 || *pageSize > store.MaxPageSize {
		return usagef("-page-size %d is out of range [1, %d]", *pageSize, store.MaxPageSize)
	}
	if *lf.postgres == "" && !*create {
		if _, err := os.Stat(*lf.db); errors.Is(err, os.ErrNotExist) {
			return usagef("no event log at %s: \"eventfeed seed\" and \"eventfeed append\" create one, or give -create to serve an empty log", *lf.db)
		}
	}
	log, err := lf.open(ctx, *pageSize)
	if err != nil {
		return err
	}
	defer log.Close()
	// Without -page-size every feed is served with the size fixed by its
	// first event; with it, a feed of another size is an error, not a
	// silent reinterpretation.
	fixed := 0
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "page-size" {
			fixed = *pageSize
		}
	})
	if fixed != 0 {
		if err := checkPageSizes(ctx, log, fixed); err != nil {
			return err
		}
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg := publisher.Config{
		Prefix:      "/feeds",
		BaseURL:     *baseURL,
		PageSize:    fixed,
		CacheMaxAge: *maxAge,
		MaxWait:     *maxWait,
		BodyTimeout: *bodyTimeout,
		Logger:      logger,
		Browse:      *browse,
	}
	if token != "" {
		cfg.Authorize = bearer(token)
	}
	if keys != "" {
		cfg.AuthorizeKeys = bearer(keys)
	}
	// Without -metrics-addr nothing is measured: the publisher's own
	// Stats cost nothing, the per-request counting and timing do a little.
	var (
		appendLog store.Log = log
		timed     *metrics.TimedLog
	)
	if *metricsAddr != "" {
		name := "sqlite"
		if *lf.postgres != "" {
			name = "postgres"
		}
		timed = metrics.NewTimedLog(log, name)
		appendLog = timed
	}
	h, err := publisher.New(appendLog, cfg)
	if err != nil {
		return usageError{err.Error()}
	}
	defer h.Close()
	pc := metrics.NewPublisherCollector(h)

	var feeds http.Handler = h
	if timed != nil {
		feeds = pc.Instrument(cfg.Prefix, h)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds", http.RedirectHandler("/feeds/", http.StatusMovedPermanently))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context(), log); err != nil {
			logger.Warn("not ready", "err", err)
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	var root http.Handler = prefixMux{prefix: cfg.Prefix + "/", feeds: feeds, other: mux}
	if *verbose {
		root = logRequests(logger, root)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: root,
		// No ReadTimeout: it would bound long polls too. The publisher
		// bounds request bodies itself (-body-timeout), per request.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	var mln net.Listener
	if *metricsAddr != "" {
		if mln, err = net.Listen("tcp", *metricsAddr); err != nil {
			ln.Close()
			return err
		}
	}
	fmt.Fprintf(stdout, "serving http://%s/feeds/\n", ln.Addr())
	if mln != nil {
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", mln.Addr())
		reg := prometheus.NewRegistry()
		reg.MustRegister(pc, timed, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		if pl, ok := log.(*postgres.Log); ok {
			reg.MustRegister(metrics.NewPostgresCollector(pl, logger))
		}
		msrv := metricsServer(reg, logger)
		go msrv.Serve(mln)
		defer msrv.Close()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	h.Close() // answers the long polls in flight, so that Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// prefixMux hands the requests whose path begins with prefix to feeds,
// and the others to other. The publisher's own ServeMux cleans and routes
// feed requests as a ServeMux in front would (a path that is not clean is
// redirected to its cleaned form): matching them twice cost as much CPU as
// the publisher's own work for a 304.
type prefixMux struct {
	prefix       string
	feeds, other http.Handler
}

func (m prefixMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, m.prefix) {
		m.feeds.ServeHTTP(w, r)
		return
	}
	m.other.ServeHTTP(w, r)
}

// readyTimeout bounds the store check of /readyz.
const readyTimeout = 5 * time.Second

// ready reports whether log can serve: the store answers, and for
// PostgreSQL some instance is the sequencer (without one, appends wait in
// the outbox).
func ready(ctx context.Context, log store.Log) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if pl, ok := log.(*postgres.Log); ok {
		st, err := pl.Stats(ctx)
		if err != nil {
			return err
		}
		if !st.SequencerAlive {
			return errors.New("no instance is sequencing the outbox")
		}
		return nil
	}
	_, err := log.Feeds(ctx)
	return err
}

// metricsServer serves the metrics of reg at /metrics.
func metricsServer(reg *prometheus.Registry, logger *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}))
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// checkPageSizes refuses to serve a log holding a feed whose page size is not
// pageSize: caches keep the pages already served forever.
func checkPageSizes(ctx context.Context, log store.Log, pageSize int) error {
	feeds, err := log.Feeds(ctx)
	if err != nil {
		return err
	}
	for _, f := range feeds {
		if f.PageSize != pageSize {
			return fmt.Errorf("%w: feed %q has page size %d, fixed when its first event was stored; serve it with -page-size %d (caches keep its pages forever)",
				eventfeed.ErrPageSizeMismatch, f.Name, f.PageSize, f.PageSize)
		}
	}
	return nil
}

// bearer authorizes requests carrying "Authorization: Bearer token".
func bearer(token string) func(*http.Request, string) error {
	want := "Bearer " + token
	return func(r *http.Request, _ string) error {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) == 1 {
			return nil
		}
		return publisher.ErrUnauthorized
	}
}

// logRequests logs every request at Debug once it is answered.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

// statusWriter remembers the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
