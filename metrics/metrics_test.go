package metrics_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/metrics"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
	"github.com/eventfeed/eventfeed/store/postgres"
)

// env is a publisher over a memory log, mounted at /feeds and
// instrumented, and a poller following its orders feed.
type env struct {
	log    *memory.Log
	timed  *metrics.TimedLog
	pub    *publisher.Handler
	pc     *metrics.PublisherCollector
	srv    *httptest.Server
	poller *poller.Poller
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{log: memory.NewLog(memory.Options{PageSize: 10})}
	e.timed = metrics.NewTimedLog(e.log, "memory")
	pub, err := publisher.New(e.timed, publisher.Config{Prefix: "/feeds", Authorize: func(*http.Request, string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	e.pub = pub
	e.pc = metrics.NewPublisherCollector(pub)
	e.srv = httptest.NewServer(e.pc.Instrument("/feeds", pub))
	t.Cleanup(func() { e.srv.Close(); pub.Close(); e.log.Close() })
	e.poller, err = poller.New(e.srv.URL+"/feeds/orders", memory.NewReplica(nil), poller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) append(t *testing.T, n int) {
	t.Helper()
	for range n {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/feeds/orders", strings.NewReader(`{"total":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Event-Type", "order.placed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	}
}

// gather collects cs into a fresh registry and returns the metric
// families by name.
func gather(t *testing.T, cs ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily)
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value returns the value of the series of family name whose labels
// include labels (name=value pairs), and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestPollerCollector(t *testing.T) {
	e := newEnv(t)
	c := metrics.NewPollerCollector(e.poller)
	mfs := gather(t, c)
	for _, name := range []string{"eventfeed_poller_lag_seconds", "eventfeed_poller_last_success_age_seconds", "eventfeed_poller_checkpoint_age_seconds"} {
		if _, ok := value(mfs, name); ok {
			t.Errorf("%s before the first poll: present, want absent (nothing to measure yet)", name)
		}
	}
	if v, _ := value(mfs, "eventfeed_poller_caught_up", "feed", "orders"); v != 0 {
		t.Errorf("caught_up before the first poll = %v, want 0", v)
	}

	e.append(t, 25)
	if err := e.poller.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs = gather(t, c)
	st := e.poller.Stats()
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eventfeed_poller_entries_applied_total", nil, 25},
		{"eventfeed_poller_pages_fetched_total", nil, float64(st.Pages)},
		{"eventfeed_poller_fetches_total", []string{"outcome", "ok"}, float64(st.Pages)},
		{"eventfeed_poller_fetches_total", []string{"outcome", "error"}, 0},
		{"eventfeed_poller_lag_events", nil, 0},
		{"eventfeed_poller_caught_up", nil, 1},
		{"eventfeed_poller_dead_letters_total", nil, 0},
	} {
		got, ok := value(mfs, tc.name, append([]string{"feed", "orders"}, tc.labels...)...)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if st.Pages < 3 {
		t.Errorf("the poller fetched %d pages of 25 events in pages of 10, want at least 3", st.Pages)
	}
	for _, name := range []string{"eventfeed_poller_lag_seconds", "eventfeed_poller_last_success_age_seconds", "eventfeed_poller_checkpoint_age_seconds"} {
		if v, ok := value(mfs, name, "feed", "orders"); !ok || v < 0 || v > 3600 {
			t.Errorf("%s after a sync = %v (present %v), want a small age", name, v, ok)
		}
	}
}

func TestPublisherCollector(t *testing.T) {
	e := newEnv(t)
	e.append(t, 25)
	get := func(path string, header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	head := get("/feeds/orders")
	get("/feeds/orders", "If-None-Match", head.Header.Get("ETag"))
	get("/feeds/")
	f, err := e.log.Feed(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf("/feeds/orders/%s/pages/1", f.Epoch)
	get(page)
	get(page) // from the page cache
	get(fmt.Sprintf("/feeds/orders/%s/entries/3", f.Epoch))
	get("/feeds/orders/nothing/here/at/all")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/feeds/orders", strings.NewReader(`{bad json`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Event-Type", "t")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	mfs := gather(t, e.pc, e.timed)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"eventfeed_publisher_requests_total", []string{"kind", "append", "code", "201"}, 25},
		{"eventfeed_publisher_requests_total", []string{"kind", "append", "code", "400"}, 1},
		{"eventfeed_publisher_requests_total", []string{"kind", "subscription", "code", "200"}, 1},
		{"eventfeed_publisher_requests_total", []string{"kind", "subscription", "code", "304"}, 1},
		{"eventfeed_publisher_requests_total", []string{"kind", "service", "code", "200"}, 1},
		{"eventfeed_publisher_requests_total", []string{"kind", "page", "code", "200"}, 2},
		{"eventfeed_publisher_requests_total", []string{"kind", "entry", "code", "200"}, 1},
		{"eventfeed_publisher_requests_total", []string{"kind", "other", "code", "404"}, 1},
		{"eventfeed_publisher_appends_total", []string{"outcome", "accepted"}, 25},
		{"eventfeed_publisher_appends_total", []string{"outcome", "refused"}, 1},
		{"eventfeed_publisher_page_cache_hits_total", nil, float64(e.pub.Stats().CacheHits)},
		{"eventfeed_publisher_long_polls_waiting", nil, 0},
		// Every successful POST appended once; the refused one never
		// reached the log.
		{"eventfeed_store_append_duration_seconds", []string{"store", "memory"}, 25},
	} {
		if got, ok := value(mfs, tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if e.pub.Stats().CacheHits == 0 {
		t.Error("the page asked for twice was never a cache hit")
	}
	// Each render is in the histogram: the page, the entry and the
	// subscription document at least.
	if got, _ := value(mfs, "eventfeed_publisher_render_duration_seconds"); got < 3 {
		t.Errorf("render_duration_seconds has %v observations, want at least 3", got)
	}
	if problems, err := testutil.CollectAndLint(e.pc); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestRequestKindsBounded(t *testing.T) {
	e := newEnv(t)
	// However many distinct paths are asked for, the kinds stay few.
	for i := range 50 {
		http.Get(fmt.Sprintf("%s/feeds/f%d/e%d/x/%d/y", e.srv.URL, i, i, i))
		http.Get(fmt.Sprintf("%s/feeds/f%d", e.srv.URL, i))
	}
	mfs := gather(t, e.pc)
	if n := len(mfs["eventfeed_publisher_requests_total"].GetMetric()); n > 3 {
		t.Errorf("100 requests for 100 paths made %d series, want a few", n)
	}
}

// TestPromtool checks the exposition of every collector, and of the
// leader figures of a PostgreSQL log when one is available, with
// promtool check metrics (Debian package prometheus).
func TestPromtool(t *testing.T) {
	promtool := testenv.Command(t, "promtool")
	e := newEnv(t)
	e.append(t, 12)
	if err := e.poller.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	http.Get(e.srv.URL + "/feeds/orders")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewPollerCollector(e.poller), e.pc, e.timed)
	check(t, promtool, reg)
}

func TestPostgresCollector(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	schema := newSchema(t, dsn)
	var logged syncBuffer
	l, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, eventfeed.Event{Feed: "orders", ID: "urn:x:1", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	// Append returns once the event is sequenced: this instance leads.
	c := metrics.NewPostgresCollector(l, nil)
	mfs := gather(t, c)
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"eventfeed_postgres_sequencer_leading", 1},
		{"eventfeed_postgres_sequencer_alive", 1},
		{"eventfeed_postgres_sequencer_leader_changes_total", 1},
		{"eventfeed_postgres_outbox_events", 0},
		{"eventfeed_postgres_rejected_events", 0},
	} {
		if got, ok := value(mfs, tc.name); !ok || got != tc.want {
			t.Errorf("%s = %v (present %v), want %v", tc.name, got, ok, tc.want)
		}
	}
	if path, err := exec.LookPath("promtool"); err == nil {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		check(t, path, reg)
	}
	// Closed, it stops leading, and says so in the counter.
	l.Close()
	mfs = gather(t, c)
	if got, _ := value(mfs, "eventfeed_postgres_sequencer_leading"); got != 0 {
		t.Errorf("sequencer_leading after Close = %v, want 0", got)
	}
	if got, _ := value(mfs, "eventfeed_postgres_sequencer_leader_changes_total"); got != 2 {
		t.Errorf("leader_changes_total after Close = %v, want 2", got)
	}
	// One INFO line for each change, so that a takeover leaves a trace at
	// the default level.
	log := logged.String()
	if strings.Count(log, "level=INFO msg=\"postgres: this instance is now the sequencer\"") != 1 ||
		strings.Count(log, "level=INFO msg=\"postgres: this instance is no longer the sequencer\"") != 1 {
		t.Errorf("log: want one INFO line on gaining the lead and one on losing it, got\n%s", log)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// check runs promtool check metrics on what reg exposes.
func check(t *testing.T, promtool string, reg *prometheus.Registry) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\nexposition:\n%s", err, out, buf.Bytes())
	}
}

// newSchema returns a schema of its own for t, dropped when t ends.
func newSchema(t *testing.T, dsn string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer pool.Close()
		if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}
