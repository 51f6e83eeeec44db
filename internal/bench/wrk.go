package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkLoad is a closed-loop load applied by wrk (github.com/wg/wrk), one
// thread keeping conns keep-alive connections busy with GETs of url, for
// duration after a warm-up run of warmup that is not counted.
type wrkLoad struct {
	bin      string
	url      string
	header   string // one "Name: value" request header, or ""
	conns    int
	warmup   time.Duration
	duration time.Duration
}

// run runs wrk and reads its report. The CPU time wrk used is reported as
// ClientCPU; ServerCPU is left to the caller.
func (l wrkLoad) run(ctx context.Context) (LoadResult, error) {
	if l.warmup > 0 {
		if _, _, err := l.once(ctx, l.warmup); err != nil {
			return LoadResult{}, err
		}
	}
	out, cpu, err := l.once(ctx, l.duration)
	if err != nil {
		return LoadResult{}, err
	}
	r, err := parseWrk(out)
	if err != nil {
		return r, fmt.Errorf("bench: wrk %s: %w\n%s", l.url, err, out)
	}
	r.ClientCPU = cpu.Seconds() / r.Seconds
	return r, nil
}

// once runs wrk for d and returns its report and the CPU time it used.
func (l wrkLoad) once(ctx context.Context, d time.Duration) ([]byte, time.Duration, error) {
	// wrk takes whole seconds or a unit; milliseconds are not one of its
	// units, so a duration under a second is rounded up to one.
	secs := max(int((d+time.Second-1)/time.Second), 1)
	args := []string{"-t1", "-c" + strconv.Itoa(l.conns), "-d" + strconv.Itoa(secs) + "s", "--latency"}
	if l.header != "" {
		args = append(args, "-H", l.header)
	}
	cmd := exec.CommandContext(ctx, l.bin, append(args, l.url)...)
	dieWithParent(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, 0, fmt.Errorf("bench: wrk %s: %v: %s", l.url, err, stderr.Bytes())
	}
	return stdout.Bytes(), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// parseWrk reads the report of "wrk --latency": the requests and the time
// they took, the latency distribution, the socket errors and the responses
// with a status other than 2xx or 3xx (both counted as errors).
func parseWrk(out []byte) (LoadResult, error) {
	var (
		r        LoadResult
		haveReqs bool
		inDist   bool
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case line == "Latency Distribution":
			inDist = true
			continue
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := wrkDuration(f[1])
			if err != nil {
				return r, err
			}
			switch f[0] {
			case "50%":
				r.Latency.P50 = ms(d)
			case "90%":
				r.Latency.P90 = ms(d)
			case "99%":
				r.Latency.P99 = ms(d)
			}
			continue
		}
		inDist = false
		switch {
		case len(f) >= 2 && f[0] == "Latency" && len(f) >= 4:
			// "Latency avg stdev max +/-stdev"
			d, err := wrkDuration(f[3])
			if err != nil {
				return r, err
			}
			r.Latency.Max = ms(d)
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			// "123 requests in 5.00s, 2.95GB read"
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("requests: %w", err)
			}
			d, err := wrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, err
			}
			r.Requests, r.Seconds, haveReqs = n, d.Seconds(), true
			r.Latency.N = int(n)
		case strings.HasPrefix(line, "Socket errors:"):
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("socket errors: %w", err)
				}
				r.Errors += n
			}
			if r.Errors > 0 && r.FirstError == "" {
				r.FirstError = line
			}
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("non-2xx responses: %w", err)
			}
			r.Errors += n
			if r.FirstError == "" {
				r.FirstError = line
			}
		case strings.HasPrefix(line, "Transfer/sec:") && len(f) == 2:
			b, err := wrkBytes(f[1])
			if err != nil {
				return r, err
			}
			r.MBPerSecond = mb(b)
		}
	}
	if !haveReqs || r.Seconds <= 0 {
		return r, errors.New("no \"requests in\" line")
	}
	r.PerSecond = float64(r.Requests) / r.Seconds
	return r, nil
}

// wrkDuration parses a duration as wrk prints it: "310.00us", "1.23ms",
// "5.00s", "1.00m".
func wrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return time.Duration(x * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("duration %q: no unit", s)
}

// wrkBytes parses a size as wrk prints it: "590.00MB", "12.5KB", "100B".
func wrkBytes(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		unit   float64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("size %q: %w", s, err)
			}
			return int64(x * u.unit), nil
		}
	}
	return 0, fmt.Errorf("size %q: no unit", s)
}
