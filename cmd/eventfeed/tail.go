package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/postgres"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// runTail prints every entry of the feed at a URL, oldest first, as one
// JSON object per line, for Atom feeds and http-feeds alike (told apart by
// the Content-Type the URL answers):
//
//	{"id":…,"seq":…,"type":…,"subject":…,"time":…,"contentType":…,"data":…}
//
// seq is left out for feeds without ef:seq. data is the JSON value itself
// when the content is JSON, the text when it is valid UTF-8, else its
// standard Base64.
//
// Events of an encrypted feed are printed opened, with the keys read with
// -key-token (or -key-token-file, or EVENTFEED_KEY_TOKEN). An event whose
// subject was erased is printed as such: "erased":true, "data":null and
// contentType application/jose; the tombstone that erased it is printed
// like any event, with type eventfeed.erased.
//
// Without -follow it exits once it has caught up with the feed, or with
// status 1 once a request has failed for -retry (30 s by default); with
// it, it goes on printing new entries until interrupted, retrying
// failures for as long as it takes. With -db the
// checkpoint is kept in a SQLite replica file, so the next run prints only
// the entries that came since. Lines are printed and flushed inside the
// replica's transaction, before it commits: a crash between the two
// prints the last batch again on the next run. Printing is at least once;
// what a run has committed is never printed again, and nothing is ever
// skipped.
//
// On stderr, unless -q: while it catches up, a progress line (events,
// events/s, pages, how far behind the head) when stderr is a terminal; once
// caught up (with -follow, the first time), one summary line. With
// -metrics-addr it serves the poller's Prometheus metrics.
func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", "[-db replica.db | -postgres DSN] [-follow | -retry 30s] [-q] [-metrics-addr ADDR] [-key-token-file F] URL", stderr)
	db := fs.String("db", "", "SQLite `file` keeping the checkpoint, so that the next run prints only new entries (default: none, print everything)")
	dsn := fs.String("postgres", "", "PostgreSQL `DSN` keeping the checkpoint instead of -db; one tail at a time follows a URL there")
	schema := fs.String("schema", postgres.DefaultSchema, "PostgreSQL `schema` of the checkpoint, with -postgres")
	follow := fs.Bool("follow", false, "keep printing new entries after catching up, until interrupted")
	retry := fs.Duration("retry", 30*time.Second, "without -follow, how long to retry a failing request before giving up (exit 1); -follow retries until interrupted")
	quiet := fs.Bool("q", false, "print no progress and no summary line on stderr")
	metricsAddr := fs.String("metrics-addr", "", "`address` to serve Prometheus metrics on, at /metrics (default: none)")
	keyToken := addSecretFlag(fs, "key-token", "EVENTFEED_KEY_TOKEN",
		"is sent to read the keys of an encrypted feed (an event of an erased subject prints as \"erased\":true, \"data\":null)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	keys, err := keyToken.get()
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		if err := checkAddr("metrics-addr", *metricsAddr); err != nil {
			return err
		}
	}
	if fs.NArg() != 1 {
		return usagef("want one feed URL, got %d arguments", fs.NArg())
	}
	source := fs.Arg(0)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pr := &printer{out: stdout, fail: cancel}
	var replica store.Replica = &printReplica{pr: pr}
	switch {
	case *db != "" && *dsn != "":
		return usagef("-db and -postgres exclude each other")
	case *db != "":
		r, err := sqlite.OpenReplica(ctx, *db, sqlite.ReplicaOptions{
			Projection: func(_ context.Context, _ *sql.Tx, ev eventfeed.Event) error { return pr.project(ev) },
		})
		if err != nil {
			return err
		}
		defer r.Close()
		replica = &batchReplica{Replica: r, pr: pr}
	case *dsn != "":
		r, err := postgres.OpenReplica(ctx, *dsn, postgres.ReplicaOptions{
			Schema:     *schema,
			Projection: func(_ context.Context, _ pgx.Tx, ev eventfeed.Event) error { return pr.project(ev) },
		})
		if err != nil {
			return err
		}
		defer r.Close()
		// Two tails of one URL on one database would print the same
		// entries: the second waits for the first.
		lease, err := r.Lock(ctx, source)
		if err != nil {
			return err
		}
		defer lease.Release()
		replica = &batchReplica{Replica: r, pr: pr}
	}
	cfg := poller.Config{
		KeyToken: keys,
		Logger:   slog.New(&onceHandler{Handler: slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}), mu: new(sync.Mutex), last: new(string)}),
	}
	if !*follow {
		if *retry <= 0 {
			return usagef("-retry must be positive")
		}
		cfg.MaxRetryTime = *retry
	}
	p, err := newFollower(ctx, source, replica, cfg)
	if err != nil {
		return usagef("%v", err)
	}
	if *metricsAddr != "" {
		stopMetrics, err := serveTailMetrics(*metricsAddr, p, stderr)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	stop := func(error) {}
	if !*quiet {
		stop = report(ctx, p, stderr)
	}
	if *follow {
		err = p.Run(ctx)
	} else {
		err = p.Sync(ctx)
	}
	stop(err)
	if cause := context.Cause(ctx); errors.Is(cause, errOutput) {
		return cause
	}
	if err != nil && ctx.Err() != nil {
		return nil // interrupted
	}
	return err
}

// onceHandler drops a record that repeats the one before it (message and
// error alike): a request retried against an unreachable host says so
// once, not once a retry.
type onceHandler struct {
	slog.Handler
	mu   *sync.Mutex
	last *string
}

func (h *onceHandler) Handle(ctx context.Context, r slog.Record) error {
	key := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" || a.Key == "url" {
			key += "\x00" + a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	repeat := key == *h.last
	*h.last = key
	h.mu.Unlock()
	if repeat {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *onceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &onceHandler{Handler: h.Handler.WithAttrs(attrs), mu: h.mu, last: h.last}
}

func (h *onceHandler) WithGroup(name string) slog.Handler {
	return &onceHandler{Handler: h.Handler.WithGroup(name), mu: h.mu, last: h.last}
}

// errOutput marks a failure to write the lines.
var errOutput = errors.New("writing output")

// printer writes events as JSON lines. A batch's lines are gathered in
// memory and written at once, so that a batch that is rolled back and
// retried is not printed in part. Its methods are called by the replica,
// one batch at a time.
type printer struct {
	out  io.Writer
	buf  bytes.Buffer
	fail context.CancelCauseFunc // ends the tail when output fails
	left int                     // events of the current batch not yet printed
	err  error
}

// line is how an event is printed.
type line struct {
	ID          string `json:"id"`
	Seq         uint64 `json:"seq,omitempty"`
	Type        string `json:"type"`
	Subject     string `json:"subject"`
	Time        string `json:"time"`
	ContentType string `json:"contentType"`
	Data        any    `json:"data"`
	// Erased marks an event whose subject was erased: its data is gone
	// (null).
	Erased bool `json:"erased,omitempty"`
}

func (pr *printer) print(ev eventfeed.Event) error {
	if pr.err != nil {
		return pr.err
	}
	l := line{
		ID:          ev.ID,
		Seq:         ev.Seq,
		Type:        ev.Type,
		Subject:     ev.Subject,
		Time:        ev.Time.Format(time.RFC3339Nano),
		ContentType: ev.MediaType(),
	}
	switch {
	case ev.Erased():
		l.Erased = true // its data is null
	case isJSON(l.ContentType):
		l.Data = json.RawMessage(ev.Data)
		if b, ok := appendLine(pr.buf.AvailableBuffer(), &l); ok {
			pr.buf.Write(b)
			return nil
		}
		fallthrough // not JSON after all: printed as text
	default:
		if utf8.Valid(ev.Data) {
			l.Data = string(ev.Data)
		} else {
			l.Data = base64.StdEncoding.EncodeToString(ev.Data)
		}
	}
	b, _ := appendLine(pr.buf.AvailableBuffer(), &l) // a string or null is never refused
	pr.buf.Write(b)
	return nil
}

// flush writes the lines gathered.
func (pr *printer) flush() error {
	if pr.err != nil {
		return pr.err
	}
	_, err := pr.out.Write(pr.buf.Bytes())
	pr.buf.Reset()
	if err != nil {
		return pr.failed(err)
	}
	return nil
}

// failed records a write error and ends the tail: retrying the batch
// cannot help.
func (pr *printer) failed(err error) error {
	pr.err = fmt.Errorf("%w: %w", errOutput, err)
	pr.fail(pr.err)
	return pr.err
}

// project is the replica's projection: it prints each event, and flushes
// after the batch's last, inside the transaction, before commit.
func (pr *printer) project(ev eventfeed.Event) error {
	if err := pr.print(ev); err != nil {
		return err
	}
	if pr.left--; pr.left == 0 {
		return pr.flush()
	}
	return nil
}

// batchReplica tells the printer how many events each Apply holds, so
// that the projection knows when to flush.
type batchReplica struct {
	store.Replica
	pr *printer
	mu sync.Mutex
}

func (r *batchReplica) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pr.left = len(events)
	err := r.Replica.Apply(ctx, cp, events)
	// A batch rolled back before its last event left lines unwritten:
	// drop them, the batch is printed whole when it is retried.
	r.pr.buf.Reset()
	return err
}

// printReplica is the replica without -db: it prints and keeps the
// checkpoint in memory.
type printReplica struct {
	pr *printer
	mu sync.Mutex
	cp store.Checkpoint
}

func (r *printReplica) Checkpoint(ctx context.Context, source string) (store.Checkpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := r.cp
	cp.Source = source
	return cp, nil
}

func (r *printReplica) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cp.Version != r.cp.Version {
		return store.ErrCheckpointMoved
	}
	for _, ev := range events {
		if err := r.pr.print(ev); err != nil {
			r.pr.buf.Reset()
			return err
		}
	}
	if err := r.pr.flush(); err != nil {
		return err
	}
	r.cp = cp
	r.cp.Version++
	return nil
}

func (r *printReplica) Park(ctx context.Context, cp store.Checkpoint, ev eventfeed.Event, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cp.Version != r.cp.Version {
		return store.ErrCheckpointMoved
	}
	r.cp = cp
	r.cp.Version++
	return nil
}

// isJSON reports whether a media type is JSON: application/json or a
// +json type.
func isJSON(mediaType string) bool {
	if mediaType == eventfeed.DefaultContentType {
		return true // the common case, without parsing
	}
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
