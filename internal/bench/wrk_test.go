package bench

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want LoadResult
	}{
		{"ok", `Running 1s test @ http://127.0.0.1:44935/feeds/bench
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.98ms   10.99ms  82.92ms   92.12%
    Req/Sec     6.20k     2.47k    8.73k    80.00%
  Latency Distribution
     50%  370.00us
     75%    1.80ms
     90%    8.65ms
     99%   62.76ms
  6185 requests in 1.04s, 6.45MB read
Requests/sec:   5952.38
Transfer/sec:      6.20MB
`, LoadResult{Requests: 6185, Seconds: 1.04, PerSecond: 6185 / 1.04, MBPerSecond: 6.20,
			Latency: Percentiles{N: 6185, P50: 0.37, P90: 8.65, P99: 62.76, Max: 82.92}}},
		{"errors", `Running 5s test @ http://127.0.0.1:1/x
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   100.00us   10.00us   1.00s    90.00%
  Latency Distribution
     50%  100.00us
     75%  100.00us
     90%  100.00us
     99%  100.00us
  9022 requests in 5.00s, 2.43MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 9022
Requests/sec:   1804.40
Transfer/sec:    497.00KB
`, LoadResult{Requests: 9022, Seconds: 5, PerSecond: 9022 / 5.0, MBPerSecond: 497.0 / 1024, Errors: 9025,
			FirstError: "Socket errors: connect 0, read 2, write 0, timeout 1",
			Latency:    Percentiles{N: 9022, P50: 0.1, P90: 0.1, P99: 0.1, Max: 1000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk([]byte(tc.out))
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.PerSecond, tc.want.PerSecond) || !near(got.MBPerSecond, tc.want.MBPerSecond) ||
				!near(got.Latency.P50, tc.want.Latency.P50) || !near(got.Latency.P99, tc.want.Latency.P99) || !near(got.Latency.Max, tc.want.Latency.Max) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			got.PerSecond, got.MBPerSecond, got.Latency = tc.want.PerSecond, tc.want.MBPerSecond, tc.want.Latency
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "Requests/sec: 12\n", "  12 requests in 1.0, 1MB read\n", "  Latency Distribution\n     50%  12xs\n  1 requests in 1s, 1B read\n"} {
		if r, err := parseWrk([]byte(bad)); err == nil {
			t.Errorf("parseWrk(%q) = %+v, want an error", bad, r)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 || a/b > 0.999999 && a/b < 1.000001 }

func TestWrkDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{"310.00us": 310 * time.Microsecond, "1.23ms": 1230 * time.Microsecond, "5.00s": 5 * time.Second, "1.00m": time.Minute} {
		if got, err := wrkDuration(s); err != nil || got != want {
			t.Errorf("wrkDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}
