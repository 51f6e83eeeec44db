package poller_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// Environment of the child process of TestCrashSafety.
const (
	crashChildVar  = "EVENTFEED_POLLER_CRASH_CHILD"
	crashSourceVar = "EVENTFEED_POLLER_CRASH_SOURCE"
	crashDBVar     = "EVENTFEED_POLLER_CRASH_DB"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildVar) != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashChild catches up with the feed into the replica file, as a
// consumer process would, until it is done or killed.
func crashChild() int {
	ctx := context.Background()
	r, err := openLogReplica(ctx, os.Getenv(crashDBVar), os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	p, err := poller.New(os.Getenv(crashSourceVar), r, poller.Config{BatchSize: 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := p.Sync(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// crashProgressEvery is how many events a crash child applies between two
// progress lines.
const crashProgressEvery = 10

// openLogReplica opens a SQLite replica whose projection records every
// event applied in the table applied, duplicates included. When progress is
// not nil, the projection writes a line to it every crashProgressEvery
// seqs, inside the transaction, before the event is applied.
func openLogReplica(ctx context.Context, path string, progress io.Writer) (*sqlite.Replica, error) {
	r, err := sqlite.OpenReplica(ctx, path, sqlite.ReplicaOptions{
		Projection: func(ctx context.Context, tx *sql.Tx, ev eventfeed.Event) error {
			if progress != nil && ev.Seq%crashProgressEvery == 0 {
				fmt.Fprintln(progress, "applying", ev.Seq)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO applied (id, seq) VALUES (?, ?)`, ev.ID, int64(ev.Seq))
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	if _, err := r.DB().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS applied (n INTEGER PRIMARY KEY, id TEXT NOT NULL, seq INTEGER NOT NULL)`); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// TestCrashSafety kills consumer processes with SIGKILL at random points of
// their catch-up, many times, and checks that the replica holds every
// event of the log exactly once, in order.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := newPubEnv(t, 25, publisher.Config{})
	e.add(t, "orders", 1000)
	db := filepath.Join(t.TempDir(), "replica.db")
	rnd := rand.New(rand.NewPCG(1, 2))
	const trials, perTrial = 20, 300
	killed := 0
	total, seen := uint64(1000), uint64(0) // events in the log, highest seq seen applied
	for trial := range trials {
		e.add(t, "orders", perTrial)
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildVar+"=1", crashSourceVar+"="+e.url("orders"), crashDBVar+"="+db)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it at a random point of its catch-up: after a random
		// number of progress lines, which it writes while applying, and a
		// random pause, so that the kill lands inside a transaction, at its
		// commit or between two. Counting lines rather than time keeps the
		// work each child does, and so the test's duration, the same on a
		// busy machine as on an idle one.
		total += perTrial
		lines := bufio.NewScanner(stdout)
		for n := rnd.IntN(int(total-seen)/crashProgressEvery + 1); n > 0 && lines.Scan(); n-- {
			var seq uint64
			if _, err := fmt.Sscanf(lines.Text(), "applying %d", &seq); err == nil && seq > seen {
				seen = seq
			}
		}
		time.Sleep(time.Duration(rnd.IntN(2_000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		io.Copy(io.Discard, stdout)
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		} else if err != nil {
			t.Fatalf("trial %d: child failed: %v\n%s", trial, err, stderr.String())
		}
	}
	// Finish in this process, then compare.
	ctx := context.Background()
	r, err := openLogReplica(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := syncCtx(t, newPoller(t, e.url("orders"), r, poller.Config{})); err != nil {
		t.Fatalf("final Sync: %v", err)
	}
	rows, err := r.DB().QueryContext(ctx, `SELECT id FROM applied ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	sameIDs(t, got, e.logIDs(t, "orders"))
	t.Logf("%d of %d consumers killed during their catch-up; replica holds all %d events once", killed, trials, len(got))
	if killed == 0 {
		t.Errorf("no consumer was killed mid-way: the test tested nothing")
	}
}

// benchData is about 300 bytes of JSON.
var benchData = []byte(`{"order":"order-000000","customer":"customer-4711","items":[{"sku":"sku-1","qty":2,"price":"19.90"},{"sku":"sku-2","qty":1,"price":"5.00"}],"total":"44.80","currency":"EUR","shipping":{"street":"Hauptstrasse 1","city":"Berlin","zip":"10115"},"note":"leave at the door"}`)

// benchLog appends n events of benchData to feed orders.
func benchLog(b *testing.B, e *pubEnv, n int) {
	b.Helper()
	const chunk = 1000
	for i := 0; i < n; i += chunk {
		events := make([]eventfeed.Event, min(chunk, n-i))
		for j := range events {
			events[j] = eventfeed.Event{Feed: "orders", ID: fmt.Sprintf("urn:bench:%d", i+j), Type: "order.placed",
				Subject: fmt.Sprintf("order-%d", (i+j)%5000), Data: benchData}
		}
		if _, err := e.log.Append(context.Background(), events...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCatchUp catches up with 100,000 events served by the publisher
// (pages of 500, over loopback) into a SQLite replica with the Latest
// projection.
func BenchmarkCatchUp(b *testing.B) {
	const n = 100_000
	// A page cache that holds the whole feed: the publisher then serves
	// every page from memory, as the design has it, and what is measured
	// is the poller.
	e := newPubEnv(b, 500, publisher.Config{PageCacheSize: 1000, PageCacheBytes: 1 << 30})
	benchLog(b, e, n)
	dir := b.TempDir()
	// Warm the publisher's page cache, as a feed being read would be.
	warm, err := sqlite.OpenReplica(context.Background(), filepath.Join(dir, "warm.db"), sqlite.ReplicaOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := newPoller(b, e.url("orders"), warm, poller.Config{}).Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	warm.Close()
	benchCatchUp(b, n, func() string { return e.url("orders") }, openSQLite(b))
}

// BenchmarkCatchUpDiscard is BenchmarkCatchUp into a replica that keeps
// nothing: what is measured is the poller's own work (fetching,
// decompressing, decoding, ordering, deduplicating, batching), with the
// publisher serving from memory in the same process.
func BenchmarkCatchUpDiscard(b *testing.B) {
	const n = 100_000
	e := newPubEnv(b, 500, publisher.Config{PageCacheSize: 1000, PageCacheBytes: 1 << 30})
	benchLog(b, e, n)
	if err := newPoller(b, e.url("orders"), discardReplica{}, poller.Config{}).Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	benchCatchUp(b, n, func() string { return e.url("orders") }, func(int) store.Replica { return discardReplica{} })
}

// discardReplica applies every event by doing nothing, and has no
// checkpoint: each Sync starts from the beginning.
type discardReplica struct{}

func (discardReplica) Checkpoint(_ context.Context, source string) (store.Checkpoint, error) {
	return store.Checkpoint{Source: source}, nil
}
func (discardReplica) Apply(context.Context, store.Checkpoint, []eventfeed.Event) error { return nil }
func (discardReplica) Park(context.Context, store.Checkpoint, eventfeed.Event, string) error {
	return nil
}

// BenchmarkCatchUpCold is BenchmarkCatchUp from a publisher that has
// served none of the pages before: each is read from the log, rendered and
// compressed on the way, as on the first catch-up of a new consumer.
func BenchmarkCatchUpCold(b *testing.B) {
	const n = 100_000
	e := newPubEnv(b, 500, publisher.Config{})
	benchLog(b, e, n)
	benchCatchUp(b, n, func() string { return newPubEnvOver(b, e.log, publisher.Config{}).url("orders") }, openSQLite(b))
}

// BenchmarkCatchUpLatency catches up with 20,000 events in pages of 100
// from a publisher that answers each request a millisecond late, as one
// across a network does, into a replica that keeps nothing: what is
// measured is how much of the wait the walk hides. With Prefetch 1 the
// request for a page goes out once the page before it is decoded; with 2
// (the default), as soon as that page's links are read.
func BenchmarkCatchUpLatency(b *testing.B) {
	const n = 20_000
	e := newPubEnv(b, 100, publisher.Config{PageCacheSize: 1000, PageCacheBytes: 1 << 30})
	benchLog(b, e, n)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/feeds")
		e.h.ServeHTTP(w, r)
	}))
	b.Cleanup(slow.Close)
	url := slow.URL + "/feeds/orders"
	if err := newPoller(b, url, discardReplica{}, poller.Config{}).Sync(context.Background()); err != nil {
		b.Fatal(err) // warms the publisher's page cache
	}
	for _, prefetch := range []int{1, 2} {
		b.Run(fmt.Sprintf("prefetch=%d", prefetch), func(b *testing.B) {
			benchCatchUpWith(b, n, poller.Config{Prefetch: prefetch}, func() string { return url }, func(int) store.Replica { return discardReplica{} })
		})
	}
}

// openSQLite returns a function that opens the i-th new SQLite replica
// of a benchmark.
func openSQLite(b *testing.B) func(i int) store.Replica {
	dir := b.TempDir()
	return func(i int) store.Replica {
		r, err := sqlite.OpenReplica(context.Background(), filepath.Join(dir, fmt.Sprintf("r%d.db", i)), sqlite.ReplicaOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
}

// cpuTime is the CPU time, user and system, the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCatchUp measures Syncs of feed URLs of n events made by source,
// each into a new replica made by open; only the Syncs are timed. Besides
// events/s it reports the CPU time of the whole process (the publisher
// serving in it included) per event, steadier than wall time on a busy
// machine.
func benchCatchUp(b *testing.B, n int, source func() string, open func(i int) store.Replica) {
	benchCatchUpWith(b, n, poller.Config{}, source, open)
}

// benchCatchUpWith is benchCatchUp with Pollers of cfg.
func benchCatchUpWith(b *testing.B, n int, cfg poller.Config, source func() string, open func(i int) store.Replica) {
	b.SetBytes(int64(n * len(benchData)))
	b.ReportAllocs()
	b.ResetTimer()
	var elapsed, cpu time.Duration
	for i := range b.N {
		b.StopTimer()
		url := source()
		r := open(i)
		p := newPoller(b, url, r, cfg)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime(b)
		if err := p.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime(b) - cpu0
		elapsed += time.Since(start)
		b.StopTimer()
		if st := p.Stats(); st.Events != uint64(n) {
			b.Fatalf("applied %d events, want %d", st.Events, n)
		}
		if c, ok := r.(io.Closer); ok {
			c.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n*b.N), "cpu-ns/event")
}

// notifyReplica reports each committed batch's last event ID.
type notifyReplica struct {
	store.Replica
	committed chan string
}

func (r *notifyReplica) Apply(ctx context.Context, cp store.Checkpoint, events []eventfeed.Event) error {
	if err := r.Replica.Apply(ctx, cp, events); err != nil {
		return err
	}
	if len(events) > 0 {
		r.committed <- events[len(events)-1].ID
	}
	return nil
}

// BenchmarkPropagation measures the time from an append to the publisher's
// log to the commit of the event in a SQLite replica by a Poller waiting
// at the head in a long poll.
func BenchmarkPropagation(b *testing.B) {
	e := newPubEnv(b, 100, publisher.Config{})
	benchLog(b, e, 10)
	sr, err := sqlite.OpenReplica(context.Background(), filepath.Join(b.TempDir(), "r.db"), sqlite.ReplicaOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer sr.Close()
	r := &notifyReplica{Replica: sr, committed: make(chan string, 16)}
	p := newPoller(b, e.url("orders"), r, poller.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.Run(ctx)
	}()
	defer wg.Wait()
	defer cancel()
	for p.Stats().Events < 10 {
		<-r.committed
	}
	time.Sleep(20 * time.Millisecond) // let the long poll settle in
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("urn:prop:%d", i)
		start := time.Now()
		if _, err := e.log.Append(ctx, eventfeed.Event{Feed: "orders", ID: id, Type: "order.placed", Data: benchData}); err != nil {
			b.Fatal(err)
		}
		for got := ""; got != id; {
			got = <-r.committed
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
