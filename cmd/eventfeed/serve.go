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
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
)

// shutdownGrace bounds how long serve waits for requests in flight when it
// is told to stop.
const shutdownGrace = 10 * time.Second

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[-db events.db] [-addr 127.0.0.1:8080] [-page-size 100]", stderr)
	lf := addLogFlags(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "`address` to listen on (port 0 picks a free one)")
	pageSize := fs.Int("page-size", store.DefaultPageSize, "entries per page of feeds created by appends through this server; when given, a feed stored with another size is refused (its pages are cached forever)")
	maxAge := fs.Duration("max-age", 0, "Cache-Control max-age of the subscription document and working page")
	maxWait := fs.Duration("max-wait", 0, "longest long poll granted to Prefer: wait (default: the publisher's)")
	token := fs.String("append-token", "", "enable AtomPub POST for requests carrying \"Authorization: Bearer `TOKEN`\"")
	verbose := fs.Bool("v", false, "log every request to stderr")
	baseURL := fs.String("base-url", "", "absolute `URL` the feeds are reachable at, such as https://example.com/feeds/, for absolute links (RSS and JSON Feed want them); default relative links")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *pageSize < 1 || *pageSize > store.MaxPageSize {
		return usagef("-page-size %d is out of range [1, %d]", *pageSize, store.MaxPageSize)
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
		Logger:      logger,
	}
	if *token != "" {
		cfg.Authorize = bearer(*token)
	}
	h, err := publisher.New(log, cfg)
	if err != nil {
		return usageError{err.Error()}
	}
	defer h.Close()

	mux := http.NewServeMux()
	mux.Handle("/feeds/", h)
	mux.Handle("/feeds", http.RedirectHandler("/feeds/", http.StatusMovedPermanently))

	var root http.Handler = mux
	if *verbose {
		root = logRequests(logger, mux)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "serving http://%s/feeds/\n", ln.Addr())

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
