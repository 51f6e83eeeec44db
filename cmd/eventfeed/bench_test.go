package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/internal/bench"
	"github.com/eventfeed/eventfeed/internal/testenv"
)

// runBenchJSON runs "eventfeed bench args... -json" and decodes its output
// into res. The scenarios start their children by re-executing
// os.Executable(), this test binary, which asMainVar makes the command.
func runBenchJSON(t *testing.T, res any, args ...string) {
	t.Helper()
	t.Setenv(asMainVar, "1")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), append(append([]string{"bench"}, args...), "-json"), &stdout, &stderr); code != 0 {
		t.Fatalf("eventfeed bench %s: exit status %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(res); err != nil {
		t.Fatalf("decode output: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Errorf("output has more than one JSON value")
	}
}

// checkMachine checks the description of the machine every result has.
func checkMachine(t *testing.T, m bench.Machine) {
	t.Helper()
	if m.Cores <= 0 || !strings.HasPrefix(m.Go, "go") || m.OS == "" || m.Date.IsZero() {
		t.Errorf("machine: got %+v, want cores, Go version, OS and date", m)
	}
}

// checkPercentiles checks that p holds n ordered samples.
func checkPercentiles(t *testing.T, what string, p bench.Percentiles, n int) {
	t.Helper()
	if p.N != n || p.P50 <= 0 || p.P50 > p.P90 || p.P90 > p.P99 || p.P99 > p.Max {
		t.Errorf("%s: got %+v, want %d samples, 0 < p50 <= p90 <= p99 <= max", what, p, n)
	}
}

func TestBenchCatchupEncrypt(t *testing.T) {
	var res bench.EncryptedCatchupResult
	runBenchJSON(t, &res, "catchup", "-encrypt", "-random-data", "-events", "450", "-subjects", "7", "-page-size", "100")
	checkMachine(t, res.Machine)
	if res.Scenario != "catchup-encrypt" || res.Events != 450 || res.Subjects != 7 || !res.RandomData || len(res.Runs) != 2 || res.Targets.Ratio != bench.TargetEncryptedRatio {
		t.Fatalf("got %+v", res)
	}
	for i, r := range res.Runs {
		if r.Protocol != []string{bench.ProtocolAtom, bench.ProtocolHTTPFeeds}[i] || r.PageSize != 100 || r.Events != 450 {
			t.Errorf("run %d: %+v", i, r)
		}
		// Each subject's key once; sealed data is larger than the JSON.
		if r.KeyRequests != 7 || r.Ratio <= 0 || r.ClearEventsPerSecond <= 0 || r.EncryptedWireRead <= r.ClearWireRead {
			t.Errorf("run %d: %d key requests, ratio %v, wire %d clear %d encrypted", i, r.KeyRequests, r.Ratio, r.ClearWireRead, r.EncryptedWireRead)
		}
	}
}

func TestBenchCatchup(t *testing.T) {
	var res bench.CatchupResult
	runBenchJSON(t, &res, "catchup", "-events", "450", "-page-size", "100")
	checkMachine(t, res.Machine)
	if res.Scenario != "catchup" || res.Events != 450 || len(res.Runs) != 3 {
		t.Fatalf("got scenario %q, %d events, %d runs; want catchup, 450, 3 (atom, http-feeds, tail)", res.Scenario, res.Events, len(res.Runs))
	}
	// The same events over the http-feed: five batches and the empty
	// answer at the end.
	if r := res.Runs[1]; r.Protocol != bench.ProtocolHTTPFeeds || r.Events != 450 || r.ReplicaSeq != 450 || r.Pages != 6 || r.AtomRatio <= 0 {
		t.Errorf("http-feeds run: got %+v", r)
	}
	// And by eventfeed tail -db: one line each, the checkpoint at the end.
	if r := res.Runs[2]; r.Protocol != bench.ProtocolTail || r.Events != 450 || r.ReplicaSeq != 450 || r.FloorRatio <= 0 || r.AtomRatio <= 0 || r.PollerPeakRSS < 1<<20 {
		t.Errorf("tail run: got %+v", r)
	}
	if res.Targets.EventsPerSecond != bench.TargetCatchupEventsPerSecond || res.Targets.FloorRatio != bench.TargetCatchupFloorRatio ||
		res.Targets.TailFloorRatio != bench.TargetTailFloorRatio {
		t.Errorf("targets: got %+v", res.Targets)
	}
	r := res.Runs[0]
	if r.Protocol != bench.ProtocolAtom || r.AtomRatio != 1 {
		t.Errorf("first run: protocol %q, ratio to atom %v; want atom, 1", r.Protocol, r.AtomRatio)
	}
	if r.PageSize != 100 || r.Events != 450 || r.ReplicaSeq != 450 {
		t.Errorf("got page size %d, %d events applied, replica at seq %d; want 100, 450, 450", r.PageSize, r.Events, r.ReplicaSeq)
	}
	// Five pages, and the subscription document at least once.
	if r.Pages < 6 || r.Floor.Pages != 5 {
		t.Errorf("got %d pages fetched, %d by the floor; want >= 6 and 5", r.Pages, r.Floor.Pages)
	}
	if r.Seconds <= 0 || r.EventsPerSecond <= 0 || r.PagesPerSecond <= 0 || r.Floor.Seconds <= 0 || r.Floor.EventsPerSecond <= 0 || r.FloorRatio <= 0 {
		t.Errorf("rates: got %+v, want all positive", r)
	}
	// At least the entries' data crossed the wire, gzipped or not.
	if r.WireRead < 450*50 || r.WireWritten <= 0 || r.Floor.WireRead < 450*50 {
		t.Errorf("wire: got %d read, %d written, floor %d read", r.WireRead, r.WireWritten, r.Floor.WireRead)
	}
	if r.PublisherPeakRSS < 1<<20 || r.PollerPeakRSS < 1<<20 {
		t.Errorf("peak RSS: got publisher %d, poller %d; want at least 1 MiB each", r.PublisherPeakRSS, r.PollerPeakRSS)
	}
	if runtime.GOOS == "linux" && (r.PollerCPU <= 0 || res.Runs[2].PollerCPU <= 0) {
		t.Errorf("CPU: got poller %v s, tail %v s; want both positive", r.PollerCPU, res.Runs[2].PollerCPU)
	}
}

func TestBenchCacheFan(t *testing.T) {
	nginx := testenv.Command(t, "nginx")
	var res bench.CacheFanResult
	runBenchJSON(t, &res, "cachefan", "-events", "1000", "-consumers", "3", "-page-size", "100",
		"-nginx", nginx, "-nginx-conf", "../../examples/nginx/eventfeed.conf")
	checkMachine(t, res.Machine)
	if res.Scenario != "cachefan" || res.Events != 1000 || res.PageSize != 100 || res.Nginx != nginx || len(res.Consumers) != 3 {
		t.Fatalf("got %q, %d events, page size %d, nginx %q, %d consumers; want cachefan, 1000, 100, %q, 3",
			res.Scenario, res.Events, res.PageSize, res.Nginx, len(res.Consumers), nginx)
	}
	if res.Targets.CPURatio != bench.TargetCacheFanCPURatio || res.Targets.SpeedRatio != bench.TargetCacheFanSpeedRatio {
		t.Errorf("targets: got %+v", res.Targets)
	}
	var later float64
	for i, c := range res.Consumers {
		// Ten pages, and the subscription document at least once.
		if c.Consumer != i+1 || c.Events != 1000 || c.ReplicaSeq != 1000 || c.Pages < 11 {
			t.Errorf("consumer %d: got number %d, %d events, replica at seq %d, %d pages; want %d, 1000, 1000, >= 11",
				i+1, c.Consumer, c.Events, c.ReplicaSeq, c.Pages, i+1)
		}
		if c.Seconds <= 0 || c.EventsPerSecond <= 0 || c.SpeedRatio <= 0 || c.PublisherCPUSeconds < 0 {
			t.Errorf("consumer %d: figures %+v, want positive rates and CPU time", i+1, c)
		}
		var responses int64
		for _, k := range c.Requests {
			responses += k
		}
		if responses < int64(c.Pages) {
			t.Errorf("consumer %d: %d responses counted for %d pages fetched", i+1, responses, c.Pages)
		}
		// The archive pages (the last of the ten may be the working page)
		// come from nginx's cache after the first
		// consumer filled it.
		if i == 0 && c.Requests["HIT"] != 0 {
			t.Errorf("consumer 1: %d cache hits from an empty cache", c.Requests["HIT"])
		}
		if i > 0 {
			later += c.PublisherCPUSeconds
			if c.Requests["HIT"] < 9 {
				t.Errorf("consumer %d: responses %v, want the archive pages as cache hits", i+1, c.Requests)
			}
		}
	}
	if res.Consumers[0].SpeedRatio != 1 || res.FirstCPUSeconds != res.Consumers[0].PublisherCPUSeconds || res.LaterCPUSeconds != later {
		t.Errorf("got consumer 1 ratio %g, CPU %g first, %g later; want 1, %g, %g",
			res.Consumers[0].SpeedRatio, res.FirstCPUSeconds, res.LaterCPUSeconds, res.Consumers[0].PublisherCPUSeconds, later)
	}
	// The first consumer makes the publisher render every page: at
	// least a tick of its CPU clock.
	if res.FirstCPUSeconds <= 0 || res.CPURatio != later/res.FirstCPUSeconds {
		t.Errorf("got CPU %g s on consumer 1, ratio %g; want > 0 and %g", res.FirstCPUSeconds, res.CPURatio, later/res.FirstCPUSeconds)
	}
	if res.IdleSeconds <= 0 || res.IdleCPUPerSecond < 0 {
		t.Errorf("got idle CPU %g s/s over %g s", res.IdleCPUPerSecond, res.IdleSeconds)
	}
	if slowest := min(res.Consumers[1].SpeedRatio, res.Consumers[2].SpeedRatio); res.SlowestSpeedRatio != slowest {
		t.Errorf("got slowest ratio %g, want %g", res.SlowestSpeedRatio, slowest)
	}
}

func TestBenchLatency(t *testing.T) {
	var res bench.LatencyResult
	runBenchJSON(t, &res, "latency", "-n", "20", "-rate", "200", "-interval", "200ms")
	checkMachine(t, res.Machine)
	if res.Scenario != "latency" || res.N != 20 || res.Rate != 200 || len(res.Modes) != 3 {
		t.Fatalf("got %q, n %d, rate %g, %d modes; want latency, 20, 200, 3", res.Scenario, res.N, res.Rate, len(res.Modes))
	}
	for i, want := range []struct {
		mode     string
		interval float64
	}{{"long-poll", 0}, {"interval", 0.2}, {"http-feeds-long-poll", 0}} {
		m := res.Modes[i]
		if m.Mode != want.mode || m.Interval != want.interval || m.Delivered != 20 {
			t.Errorf("mode %d: got %q, interval %g, %d delivered; want %q, %g, 20", i, m.Mode, m.Interval, m.Delivered, want.mode, want.interval)
		}
		checkPercentiles(t, m.Mode, m.Delay, 20)
		if m.Polls == 0 {
			t.Errorf("%s: no pages fetched", m.Mode)
		}
	}
	if res.Targets.LongPollP99 != bench.TargetLatencyP99 {
		t.Errorf("targets: got %+v", res.Targets)
	}
}

func TestBenchServe(t *testing.T) {
	for _, tc := range []struct {
		name       string
		nginx, wrk func(t *testing.T) string
	}{
		{"alone", func(*testing.T) string { return "" }, func(*testing.T) string { return "" }},
		{"nginx and wrk", func(t *testing.T) string { return testenv.Command(t, "nginx") }, func(t *testing.T) string { return testenv.Command(t, "wrk") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nginx, wrk := tc.nginx(t), tc.wrk(t)
			var res bench.ServeResult
			runBenchJSON(t, &res, "serve", "-duration", "200ms", "-connections", "2", "-nginx", nginx, "-wrk", wrk)
			checkMachine(t, res.Machine)
			type kind struct{ kind, client string }
			want := []kind{{"full page", "go"}, {"304", "go"}}
			if wrk != "" {
				want = []kind{{"full page", "go"}, {"full page", "wrk"}, {"304", "go"}, {"304", "wrk"}}
			}
			if res.Scenario != "serve" || res.Connections != 2 || res.Nginx != nginx || res.Wrk != wrk || len(res.Kinds) != len(want) || res.PageBytes < 100*300 {
				t.Fatalf("got %q, %d connections, nginx %q, wrk %q, %d kinds, page of %d B; want serve, 2, %q, %q, %d, a page of 100 entries",
					res.Scenario, res.Connections, res.Nginx, res.Wrk, len(res.Kinds), res.PageBytes, nginx, wrk, len(want))
			}
			for i, w := range want {
				k := res.Kinds[i]
				name := w.kind + ", " + w.client
				results := map[string]*bench.LoadResult{"eventfeed": &k.Eventfeed, "nginx": k.Nginx, "net/http": &k.NetHTTP}
				if k.NetHTTPRatio <= 0 {
					t.Errorf("%s: eventfeed/net/http ratio %g, want one", name, k.NetHTTPRatio)
				}
				if nginx == "" {
					if k.Nginx != nil || k.Ratio != 0 {
						t.Errorf("%s: got nginx figures %+v, ratio %g without nginx", name, k.Nginx, k.Ratio)
					}
					delete(results, "nginx")
				} else if k.Nginx == nil || k.Ratio <= 0 {
					t.Fatalf("%s: got nginx %+v, ratio %g; want figures", name, k.Nginx, k.Ratio)
				}
				if k.Kind != w.kind || k.Client != w.client {
					t.Errorf("kind %d: got %q, %q; want %q, %q", i, k.Kind, k.Client, w.kind, w.client)
				}
				if wantTarget := map[string]float64{"full page": bench.TargetServeRatio, "304": bench.TargetServeNotModifiedRatio}[w.kind]; k.Target != wantTarget {
					t.Errorf("%s: target %g, want %g", name, k.Target, wantTarget)
				}
				for who, r := range results {
					if r.Requests <= 0 || r.Errors != 0 || r.PerSecond <= 0 {
						t.Errorf("%s, %s: got %d requests, %d errors (%s), %g/s", name, who, r.Requests, r.Errors, r.FirstError, r.PerSecond)
					}
					if r.ServerCPU < 0 || r.ClientCPU < 0 {
						t.Errorf("%s, %s: CPU of server %g, client %g; want no negative", name, who, r.ServerCPU, r.ClientCPU)
					}
					if w.client == "go" {
						checkPercentiles(t, name+", "+who, r.Latency, int(r.Requests))
					}
				}
			}
		})
	}
}

func TestBenchFanout(t *testing.T) {
	var res bench.FanoutResult
	runBenchJSON(t, &res, "fanout", "-consumers", "50")
	checkMachine(t, res.Machine)
	if res.Scenario != "fanout" || res.Consumers != 50 || res.Waiting != 50 || res.Early != 0 {
		t.Fatalf("got %q, %d consumers, %d waiting, %d early; want fanout, 50, 50, 0", res.Scenario, res.Consumers, res.Waiting, res.Early)
	}
	if res.Woken != 50 || res.Failed != 0 {
		t.Errorf("got %d woken, %d failed; want 50, 0", res.Woken, res.Failed)
	}
	checkPercentiles(t, "wake", res.Wake, 50)
	if res.RSSBefore < 1<<20 || res.RSSWaiting < 1<<20 || res.ConnectSeconds <= 0 {
		t.Errorf("got RSS %d before, %d waiting, connecting in %gs", res.RSSBefore, res.RSSWaiting, res.ConnectSeconds)
	}
}

func TestBenchAppend(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dsn    func(t *testing.T) string
		stores []string
	}{
		{"sqlite", func(*testing.T) string { return "" }, []string{"sqlite"}},
		{"postgres", func(t *testing.T) string { return testenv.PostgresDSN(t) }, []string{"sqlite", "postgres"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"append", "-n", "120", "-connections", "4", "-batch", "50"}
			if dsn := tc.dsn(t); dsn != "" {
				args = append(args, "-postgres", dsn)
			}
			var res bench.AppendResult
			runBenchJSON(t, &res, args...)
			checkMachine(t, res.Machine)
			if res.Scenario != "append" || res.N != 120 || res.Connections != 4 || res.Batch != 50 || len(res.Runs) != 3*len(tc.stores) {
				t.Fatalf("got %q, n %d, %d connections, batch %d, %d runs; want append, 120, 4, 50, %d",
					res.Scenario, res.N, res.Connections, res.Batch, len(res.Runs), 3*len(tc.stores))
			}
			i := 0
			for _, st := range tc.stores {
				for _, mode := range []string{"POST", "single", "batch"} {
					r := res.Runs[i]
					i++
					if r.Store != st || r.Mode != mode || r.Events != 120 || r.Errors != 0 || r.Stored != 120 || r.EventsPerSecond <= 0 {
						t.Errorf("run %d: got %s %s, %d events, %d errors (%s), %d stored, %g/s; want %s %s, 120, 0, 120",
							i, r.Store, r.Mode, r.Events, r.Errors, r.FirstError, r.Stored, r.EventsPerSecond, st, mode)
					}
					calls := 120
					if mode == "batch" {
						calls = 3
					}
					checkPercentiles(t, st+" "+mode, r.Latency, calls)
				}
			}
		})
	}
}

func TestBenchSequencer(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	var res bench.SequencerResult
	runBenchJSON(t, &res, "sequencer", "-n", "200", "-writers", "4", "-pairs", "1", "-postgres", dsn)
	checkMachine(t, res.Machine)
	if res.Scenario != "sequencer" || res.N != 200 || res.Writers != 4 || len(res.Runs) != 2 {
		t.Fatalf("got %q, n %d, %d writers, %d runs; want sequencer, 200, 4, 2", res.Scenario, res.N, res.Writers, len(res.Runs))
	}
	for i, r := range res.Runs {
		// The first pair runs without the sequencer first.
		if r.Sequencer != (i == 1) || r.Committed != 200 || r.EventsPerSecond <= 0 || r.Seconds <= 0 || r.CommitSeconds <= 0 {
			t.Errorf("run %d: got %+v", i+1, r)
		}
	}
	if r := res.Runs[1]; r.Rounds == 0 {
		t.Errorf("sequenced run: no rounds counted")
	}
	checkPercentiles(t, "lag", res.Lag, 200)
	if res.Ratio <= 0 || res.Unsequenced <= 0 || res.Sequenced <= 0 || res.Targets.Ratio != bench.TargetSequencerRatio {
		t.Errorf("got ratio %g of %g over %g, target %g", res.Ratio, res.Sequenced, res.Unsequenced, res.Targets.Ratio)
	}
}

func TestBenchTable(t *testing.T) {
	t.Setenv(asMainVar, "1")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"bench", "append", "-n", "10", "-connections", "1", "-batch", "5"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"append: 10 events per run", "events/s", "target events/s", ">= 5000", "sqlite", "POST", "batch"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"bench"}, 2},
		{[]string{"bench", "-h"}, 0},
		{[]string{"bench", "nonesuch"}, 2},
		{[]string{"bench", "catchup", "-events", "0"}, 2},
		{[]string{"bench", "catchup", "-encrypt", "-subjects", "0"}, 2},
		{[]string{"bench", "catchup", "-nonesuch"}, 2},
		{[]string{"bench", "catchup", "extra"}, 2},
		{[]string{"bench", "serve", "-h"}, 0},
		{[]string{"bench", "cachefan", "-consumers", "0"}, 2},
		{[]string{"bench", "cachefan", "-nginx-conf", "/nonexistent/eventfeed.conf"}, 2},
		{[]string{"bench", "publisher"}, 2},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(t.Context(), tc.args, &stdout, &stderr); got != tc.want {
			t.Errorf("%q: got exit status %d, want %d\n%s", tc.args, got, tc.want, stderr.String())
		}
	}
}
