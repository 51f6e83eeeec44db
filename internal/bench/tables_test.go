package bench

import (
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	catchup := &CatchupResult{Events: 1000, Runs: []CatchupRun{{PageSize: 100, Events: 1000, EventsPerSecond: 12345, FloorRatio: 0.42}}}
	catchup.Targets.EventsPerSecond, catchup.Targets.FloorRatio = TargetCatchupEventsPerSecond, TargetCatchupFloorRatio
	catchup.Targets.TailFloorRatio = TargetTailFloorRatio
	latency := &LatencyResult{N: 10, Rate: 5, Modes: []LatencyRun{
		{Mode: "long-poll", Delivered: 10, Delay: Percentiles{N: 10, P99: 7.25}},
		{Mode: "interval", Interval: 1, Delivered: 10, Delay: Percentiles{N: 10, P99: 990}},
	}}
	latency.Targets.LongPollP99 = TargetLatencyP99
	serve := &ServeResult{Connections: 4, Seconds: 1, PageBytes: 2048, Nginx: "/usr/sbin/nginx", Wrk: "/usr/bin/wrk", Kinds: []ServeKind{
		{Kind: "full page", Client: "go", Target: TargetServeRatio,
			Eventfeed: LoadResult{PerSecond: 900, ServerCPU: 1.23}, Nginx: &LoadResult{PerSecond: 1000, ClientCPU: 0.77}, Ratio: 0.9},
		{Kind: "304", Client: "wrk", Target: TargetServeNotModifiedRatio, Eventfeed: LoadResult{PerSecond: 500, FirstError: "Non-2xx or 3xx responses: 3"},
			Nginx: &LoadResult{PerSecond: 1000}, Ratio: 0.5, NetHTTP: LoadResult{PerSecond: 625, ServerCPU: 0.5}, NetHTTPRatio: 0.8, NetHTTPCPURatio: 0.61},
	}}
	fanout := &FanoutResult{Consumers: 100, Waiting: 100, Woken: 99, Failed: 1, BytesPerConsumer: 15 << 10, Wake: Percentiles{Max: 12.5}}
	fanout.Targets.BytesPerConsumer, fanout.Targets.WakeAllMs = TargetFanoutBytesPerConsumer, 1000
	appendRes := &AppendResult{N: 10, Runs: []AppendRun{
		{Store: "sqlite", Mode: "POST", Events: 9, Errors: 1, EventsPerSecond: 4321, FirstError: "POST 3: status 500"},
	}}
	appendRes.Targets.POSTsPerSecond = TargetAppendPOSTsPerSecond
	for _, tc := range []struct {
		name string
		r    Result
		want []string
	}{
		{"catchup", catchup, []string{"catchup: 1000 events", "12345", "0.42", ">= 100000", ">= 0.75 (tail >= 0.65)", "poller CPU s", "poller peak RSS"}},
		{"latency", latency, []string{"long-poll", "7.25", "interval 1s", "990.00", "<= 10"}},
		{"serve", serve, []string{"full page (2048 B)", "900", "1000", "1.23", "0.77", "0.90", ">= 0.85", "304", "wrk", ">= 0.95", "net/http", "625", "800.0", "0.80", "0.61", "/usr/bin/wrk -t1",
			"304, wrk, eventfeed, first error: Non-2xx or 3xx responses: 3"}},
		{"fanout", fanout, []string{"100 of 100", "15.0", "<= 20", "99 of 100", "12.5", "<= 1000"}},
		{"append", appendRes, []string{"sqlite", "POST", "4321", ">= 5000", "first error: POST 3: status 500"}},
	} {
		var b strings.Builder
		if err := tc.r.WriteTable(&b); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: table lacks %q:\n%s", tc.name, w, b.String())
			}
		}
	}
}
