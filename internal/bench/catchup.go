package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/eventfeed/eventfeed/poller"
)

// CatchupConfig configures the catchup scenario.
type CatchupConfig struct {
	// Events is how many events the feed holds; DefaultCatchupEvents when
	// zero.
	Events int
	// PageSizes are the page sizes measured, one feed each;
	// DefaultCatchupPageSizes when empty.
	PageSizes []int
	// Protocols are the protocols the same events are caught up over, in
	// turn: ProtocolAtom, ProtocolHTTPFeeds and ProtocolTail; all three
	// when empty.
	Protocols []string
	// Encrypt measures the catch-up of an encrypted feed against the same
	// feed in the clear, in one run, both served from memory Logs in this
	// process (CatchupEncrypted); Subjects is how many subjects the events
	// are about, DefaultEncryptSubjects when zero.
	Encrypt  bool
	Subjects int
	// RandomData, with Encrypt, fills the events' data with random
	// letters instead of the synthetic events' repeated alphabet, which
	// compresses far better than real data does.
	RandomData bool
}

// Protocols of the catchup scenario.
const (
	ProtocolAtom      = "atom"       // the Atom feed, by poller.Poller
	ProtocolHTTPFeeds = "http-feeds" // the http-feed, by poller.HTTPFeed
	// ProtocolTail is the Atom feed, by "eventfeed tail -db R URL" in a
	// child process writing its lines to a file: what a user runs.
	ProtocolTail = "tail"
)

// Defaults of CatchupConfig.
const DefaultCatchupEvents = 1_000_000

// DefaultCatchupPageSizes are the page sizes catchup measures by default.
var DefaultCatchupPageSizes = []int{100, 500}

// Targets of the catchup scenario.
const (
	TargetCatchupEventsPerSecond = 100_000
	TargetCatchupFloorRatio      = 0.75
	TargetTailFloorRatio         = 0.65
)

// CatchupResult is the outcome of the catchup scenario.
type CatchupResult struct {
	Scenario string       `json:"scenario"`
	Machine  Machine      `json:"machine"`
	Events   int          `json:"events"`
	Runs     []CatchupRun `json:"runs"`
	Targets  struct {
		EventsPerSecond float64 `json:"events_per_s"`
		FloorRatio      float64 `json:"floor_ratio"`
		TailFloorRatio  float64 `json:"tail_floor_ratio"`
	} `json:"targets"`
}

// CatchupRun is the catch-up of one feed, of one page size, over one
// protocol.
type CatchupRun struct {
	PageSize int    `json:"page_size"`
	Protocol string `json:"protocol"`
	// Events and Pages are what the poller applied and fetched (its Stats;
	// for tail, the lines it wrote and no pages); ReplicaSeq is the seq of
	// the replica's checkpoint afterwards.
	Events     uint64  `json:"events"`
	Pages      uint64  `json:"pages"`
	ReplicaSeq uint64  `json:"replica_seq"`
	Seconds    float64 `json:"seconds"`

	EventsPerSecond float64 `json:"events_per_s"`
	PagesPerSecond  float64 `json:"pages_per_s"`
	// WireRead and WireWritten are the bytes the poller read and wrote on
	// its connections, HTTP headers included (not counted for tail).
	WireRead    int64 `json:"wire_read_bytes"`
	WireWritten int64 `json:"wire_written_bytes"`

	// Floor is the transport floor: every page fetched in turn and
	// discarded, by the same kind of client, from a fresh publisher.
	Floor Floor `json:"floor"`
	// FloorRatio is EventsPerSecond / Floor.EventsPerSecond: the share of
	// the transport's speed that the catch-up reaches.
	FloorRatio float64 `json:"floor_ratio"`
	// AtomRatio is EventsPerSecond / the Atom run's of the same page size
	// in the same run; 0 without one.
	AtomRatio float64 `json:"atom_ratio,omitempty"`

	// PublisherPeakRSS is the publisher process's peak RSS during the
	// catch-up (ru_maxrss of the child); PollerPeakRSS is this process's
	// (VmHWM, reset before the catch-up when PollerPeakReset), or for tail
	// the tail process's (ru_maxrss).
	PublisherPeakRSS int64 `json:"publisher_peak_rss_bytes"`
	PollerPeakRSS    int64 `json:"poller_peak_rss_bytes"`
	PollerPeakReset  bool  `json:"poller_peak_reset"`

	// PollerCPU and PublisherCPU are the CPU seconds (user and system)
	// the poller's process (this one, or tail's) and the publisher's spent
	// on the catch-up: on a shared machine, steadier than its wall time.
	PollerCPU    float64 `json:"poller_cpu_s"`
	PublisherCPU float64 `json:"publisher_cpu_s"`
}

// Floor is the time to GET every page of a feed without parsing it.
type Floor struct {
	Pages           int     `json:"pages"`
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"events_per_s"`
	PagesPerSecond  float64 `json:"pages_per_s"`
	WireRead        int64   `json:"wire_read_bytes"`
}

// Catchup measures a poller catching up with a feed of cfg.Events events
// served by a publisher on SQLite in a child process, into an SQLite
// replica, for each page size; and beside it the transport floor.
func Catchup(ctx context.Context, env *Env, cfg CatchupConfig) (*CatchupResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.Events == 0 {
		cfg.Events = DefaultCatchupEvents
	}
	if len(cfg.PageSizes) == 0 {
		cfg.PageSizes = DefaultCatchupPageSizes
	}
	if cfg.Events < 0 {
		return nil, fmt.Errorf("bench: catchup: %d events", cfg.Events)
	}
	if len(cfg.Protocols) == 0 {
		cfg.Protocols = []string{ProtocolAtom, ProtocolHTTPFeeds, ProtocolTail}
	}
	for _, p := range cfg.Protocols {
		if p != ProtocolAtom && p != ProtocolHTTPFeeds && p != ProtocolTail {
			return nil, fmt.Errorf("bench: catchup: protocol %q is not %s, %s or %s", p, ProtocolAtom, ProtocolHTTPFeeds, ProtocolTail)
		}
	}
	if cfg.Encrypt {
		return nil, errors.New("bench: catchup: use CatchupEncrypted to measure encryption")
	}
	res := &CatchupResult{Scenario: "catchup", Machine: startMachine(), Events: cfg.Events}
	res.Targets.EventsPerSecond = TargetCatchupEventsPerSecond
	res.Targets.FloorRatio = TargetCatchupFloorRatio
	res.Targets.TailFloorRatio = TargetTailFloorRatio
	for _, size := range cfg.PageSizes {
		runs, err := catchupRuns(ctx, env, cfg.Events, size, cfg.Protocols)
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, runs...)
	}
	res.Machine.finish()
	return res, nil
}

const benchFeed = "bench"

// catchupRuns seeds a feed of events in pages of pageSize, measures the
// floor, and catches up with the feed over each protocol in turn.
func catchupRuns(ctx context.Context, env *Env, events, pageSize int, protocols []string) ([]CatchupRun, error) {
	db := filepath.Join(env.Dir, fmt.Sprintf("catchup-%d.db", pageSize))
	env.logf("catchup, page size %d: seeding %d events", pageSize, events)
	if err := env.seed(ctx, db, benchFeed, events, pageSize); err != nil {
		return nil, err
	}
	serveArgs := []string{"-db", db, "-page-size", fmt.Sprint(pageSize)}

	// The floor and each catch-up get a fresh publisher, so that none
	// finds pages another had rendered in its cache.
	pub, err := env.startServe(ctx, serveArgs...)
	if err != nil {
		return nil, err
	}
	fl, err := floor(ctx, "http://"+pub.addr+"/feeds/"+benchFeed, events, pageSize)
	if _, serr := pub.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	env.logf("catchup, page size %d: floor %.0f events/s", pageSize, fl.EventsPerSecond)
	var runs []CatchupRun
	atom := 0.0
	for _, protocol := range protocols {
		var run CatchupRun
		if protocol == ProtocolTail {
			run, err = tailRun(ctx, env, serveArgs, pageSize)
		} else {
			run, err = catchupRun(ctx, env, serveArgs, pageSize, protocol)
		}
		if err != nil {
			return nil, err
		}
		run.Floor = fl
		run.FloorRatio = ratio(run.EventsPerSecond, fl.EventsPerSecond)
		if protocol == ProtocolAtom {
			atom = run.EventsPerSecond
		}
		runs = append(runs, run)
	}
	if atom > 0 {
		for i := range runs {
			runs[i].AtomRatio = ratio(runs[i].EventsPerSecond, atom)
		}
	}
	return runs, nil
}

// catchupRun catches up with the feed served with serveArgs over protocol.
func catchupRun(ctx context.Context, env *Env, serveArgs []string, pageSize int, protocol string) (CatchupRun, error) {
	run := CatchupRun{PageSize: pageSize, Protocol: protocol}
	pub, err := env.startServe(ctx, serveArgs...)
	if err != nil {
		return run, err
	}
	defer func() {
		if pub != nil {
			pub.kill()
		}
	}()
	replica, err := openReplica(ctx, filepath.Join(env.Dir, fmt.Sprintf("catchup-%d-%s-replica.db", pageSize, protocol)))
	if err != nil {
		return run, err
	}
	defer replica.Close()
	var w wire
	client := w.client(4)
	defer client.CloseIdleConnections()
	source := "http://" + pub.addr + "/feeds/" + benchFeed
	var p interface {
		Sync(context.Context) error
		Stats() poller.Stats
	}
	if protocol == ProtocolHTTPFeeds {
		source += "/events"
		p, err = poller.NewHTTPFeed(source, replica, poller.Config{Client: client})
	} else {
		p, err = poller.New(source, replica, poller.Config{Client: client})
	}
	if err != nil {
		return run, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	run.PollerPeakReset = resetPeak(os.Getpid()) == nil
	cpu0, pubCPU0 := cpuOf(os.Getpid()), cpuOf(pub.pid())
	start := time.Now()
	if err := p.Sync(ctx); err != nil {
		return run, fmt.Errorf("bench: catch-up: %w", err)
	}
	elapsed := time.Since(start)
	run.PollerCPU, run.PublisherCPU = cpuOf(os.Getpid())-cpu0, cpuOf(pub.pid())-pubCPU0
	_, run.PollerPeakRSS, _ = procMemory(os.Getpid())
	run.PublisherPeakRSS, err = pub.stop()
	pub = nil
	if err != nil {
		return run, err
	}
	st := p.Stats()
	cp, err := replica.Checkpoint(ctx, source)
	if err != nil {
		return run, err
	}
	run.Events, run.Pages, run.ReplicaSeq = st.Events, st.Pages, cp.Seq
	run.Seconds = elapsed.Seconds()
	run.EventsPerSecond = perSecond(int64(st.Events), elapsed)
	run.PagesPerSecond = perSecond(int64(st.Pages), elapsed)
	run.WireRead, run.WireWritten = w.read.Load(), w.written.Load()
	env.logf("catchup, page size %d, %s: %.0f events/s", pageSize, protocol, run.EventsPerSecond)
	return run, nil
}

// tailRun runs "eventfeed tail -db R -q URL" on the feed served with
// serveArgs, as a user would, its lines going to a file, and times it from
// its start to its exit.
func tailRun(ctx context.Context, env *Env, serveArgs []string, pageSize int) (CatchupRun, error) {
	run := CatchupRun{PageSize: pageSize, Protocol: ProtocolTail}
	pub, err := env.startServe(ctx, serveArgs...)
	if err != nil {
		return run, err
	}
	defer func() {
		if pub != nil {
			pub.kill()
		}
	}()
	db := filepath.Join(env.Dir, fmt.Sprintf("catchup-%d-tail-replica.db", pageSize))
	out, err := os.Create(filepath.Join(env.Dir, fmt.Sprintf("catchup-%d-tail.jsonl", pageSize)))
	if err != nil {
		return run, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	source := "http://" + pub.addr + "/feeds/" + benchFeed
	cmd := env.Command("tail", "-db", db, "-q", source)
	cmd.Stdout = out
	errs := &tail{}
	cmd.Stderr = errs
	dieWithParent(cmd)
	pubCPU0 := cpuOf(pub.pid())
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run, fmt.Errorf("bench: eventfeed tail: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return run, ctx.Err()
	}
	elapsed := time.Since(start)
	if err != nil {
		return run, fmt.Errorf("bench: eventfeed tail: %v: %s", err, errs)
	}
	run.PollerPeakRSS = peakRSS(cmd.ProcessState)
	run.PollerCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	run.PublisherCPU = cpuOf(pub.pid()) - pubCPU0
	run.PublisherPeakRSS, err = pub.stop()
	pub = nil
	if err != nil {
		return run, err
	}
	lines, err := countLines(out)
	if err != nil {
		return run, err
	}
	replica, err := openReplica(ctx, db)
	if err != nil {
		return run, err
	}
	defer replica.Close()
	cp, err := replica.Checkpoint(ctx, source)
	if err != nil {
		return run, err
	}
	run.Events, run.ReplicaSeq = uint64(lines), cp.Seq
	run.Seconds = elapsed.Seconds()
	run.EventsPerSecond = perSecond(lines, elapsed)
	env.logf("catchup, page size %d, tail: %.0f events/s", pageSize, run.EventsPerSecond)
	return run, nil
}

// cpuOf is the CPU seconds process pid has used so far, 0 where that
// cannot be read.
func cpuOf(pid int) float64 {
	d, _ := procCPU(pid)
	return d.Seconds()
}

// countLines counts the lines of f from its start.
func countLines(f *os.File) (int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// floor GETs every page of the feed at source in turn, as the poller
// would (net/http, Accept-Encoding: gzip, keep-alive), reading each body
// without decompressing or parsing it. Page URLs are made from the first
// link of the subscription document, which is fetched beforehand.
func floor(ctx context.Context, source string, events, pageSize int) (Floor, error) {
	var w wire
	client := w.client(1)
	defer client.CloseIdleConnections()
	fetch := func(u, encoding string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/atom+xml")
		req.Header.Set("Accept-Encoding", encoding)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("bench: GET %s: %s", u, resp.Status)
		}
		if encoding == "gzip" {
			_, err := io.Copy(io.Discard, resp.Body)
			return nil, err
		}
		return io.ReadAll(resp.Body)
	}
	sub, err := fetch(source, "identity")
	if err != nil {
		return Floor{}, err
	}
	first, err := linkHref(sub, "first", source)
	if err != nil {
		return Floor{}, err
	}
	w.read.Store(0)
	pages := (events + pageSize - 1) / pageSize
	start := time.Now()
	for k := 1; k <= pages; k++ {
		u, err := pageURL(first, k)
		if err != nil {
			return Floor{}, err
		}
		if _, err := fetch(u, "gzip"); err != nil {
			return Floor{}, err
		}
	}
	elapsed := time.Since(start)
	return Floor{
		Pages:           pages,
		Seconds:         elapsed.Seconds(),
		EventsPerSecond: perSecond(int64(events), elapsed),
		PagesPerSecond:  perSecond(int64(pages), elapsed),
		WireRead:        w.read.Load(),
	}, nil
}

// CatchupEncrypted measures the catch-up of cfg.Events encrypted events
// against the same events in the clear (see CatchupConfig.Encrypt), for
// each page size and protocol.
func CatchupEncrypted(ctx context.Context, env *Env, cfg CatchupConfig) (*EncryptedCatchupResult, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if cfg.Events == 0 {
		cfg.Events = DefaultCatchupEvents
	}
	if cfg.Events < 0 || cfg.Subjects < 0 {
		return nil, fmt.Errorf("bench: catchup: %d events, %d subjects", cfg.Events, cfg.Subjects)
	}
	if len(cfg.PageSizes) == 0 {
		cfg.PageSizes = DefaultCatchupPageSizes
	}
	if len(cfg.Protocols) == 0 {
		cfg.Protocols = []string{ProtocolAtom, ProtocolHTTPFeeds}
	}
	for _, p := range cfg.Protocols {
		if p != ProtocolAtom && p != ProtocolHTTPFeeds {
			return nil, fmt.Errorf("bench: catchup: protocol %q is neither %s nor %s", p, ProtocolAtom, ProtocolHTTPFeeds)
		}
	}
	return catchupEncrypted(ctx, env, cfg)
}
