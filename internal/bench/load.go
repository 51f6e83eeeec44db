package bench

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// load describes a closed-loop load: conns connections, each sending req
// and waiting for its response before sending it again, for warmup (not
// counted) and then duration.
type load struct {
	addr     string
	req      []byte
	status   int   // expected status
	bodyLen  int64 // expected body length, -1 for any
	conns    int
	warmup   time.Duration
	duration time.Duration
	// server is the process whose CPU time is read around the
	// measurement, 0 for none.
	server int
}

// LoadResult is what a load measured.
type LoadResult struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"req_per_s"`
	// MBPerSecond is the rate of response bodies, in MiB/s (with wrk,
	// of whole responses, headers included).
	MBPerSecond float64     `json:"body_mib_per_s"`
	Latency     Percentiles `json:"latency"`
	// FirstError describes the first failed request, if any.
	FirstError string `json:"first_error,omitempty"`
	// ServerCPU and ClientCPU are the CPU time the server and the load
	// generator used per second of the measurement (1 is one core busy),
	// 0 when not measured. The Go load generator's is that of this
	// whole process.
	ServerCPU float64 `json:"server_cpu_per_s,omitempty"`
	ClientCPU float64 `json:"client_cpu_per_s,omitempty"`
}

// run applies the load and measures it.
func (l load) run(ctx context.Context) (LoadResult, error) {
	conns := make([]*rawConn, l.conns)
	for i := range conns {
		c, err := dialRaw(ctx, l.addr, 64<<10)
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return LoadResult{}, fmt.Errorf("bench: dial %s: %w", l.addr, err)
		}
		conns[i] = c
	}
	var (
		wg        sync.WaitGroup
		requests  atomic.Int64
		errs      atomic.Int64
		bodyBytes atomic.Int64
		firstErr  atomic.Pointer[string]
		samples   = make([][]time.Duration, l.conns)
	)
	start := time.Now()
	measure := start.Add(l.warmup)
	end := measure.Add(l.duration)
	// The CPU times at the start of the measurement, read by a goroutine
	// of their own: the connections' goroutines are all busy.
	cpuStart := make(chan cpuTimes, 1)
	go func() {
		timer := time.NewTimer(l.warmup)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
		cpuStart <- readCPU(l.server)
	}()
	fail := func(format string, args ...any) {
		errs.Add(1)
		s := fmt.Sprintf(format, args...)
		firstErr.CompareAndSwap(nil, &s)
	}
	for i, c := range conns {
		wg.Go(func() {
			defer func() { conns[i].Close() }()
			var resp response
			lat := make([]time.Duration, 0, 1<<14)
			var nreq, nbody int64
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				c.SetDeadline(t0.Add(10 * time.Second))
				err := c.do(l.req, &resp, false, false)
				d := time.Since(t0)
				counted := !t0.Before(measure)
				switch {
				case err != nil:
					fail("connection %d: %v", i, err)
				case resp.status != l.status:
					fail("connection %d: status %d, want %d", i, resp.status, l.status)
				case l.bodyLen >= 0 && resp.n != l.bodyLen:
					fail("connection %d: body of %d bytes, want %d", i, resp.n, l.bodyLen)
				case counted:
					nreq++
					nbody += resp.n
					lat = append(lat, d)
				}
				if err != nil || resp.close {
					c.Close()
					if c, err = dialRaw(ctx, l.addr, 64<<10); err != nil {
						fail("connection %d: redial: %v", i, err)
						return
					}
					conns[i] = c
				}
			}
			requests.Add(nreq)
			bodyBytes.Add(nbody)
			samples[i] = lat
		})
	}
	wg.Wait()
	cpuEnd := readCPU(l.server)
	if err := ctx.Err(); err != nil {
		return LoadResult{}, err
	}
	elapsed := time.Since(measure)
	cpu := cpuEnd.sub(<-cpuStart)
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s...)
	}
	r := LoadResult{
		Requests:    requests.Load(),
		Errors:      errs.Load(),
		Seconds:     elapsed.Seconds(),
		PerSecond:   perSecond(requests.Load(), elapsed),
		MBPerSecond: mb(bodyBytes.Load()) / elapsed.Seconds(),
		Latency:     summarize(all),
		ServerCPU:   cpu.server.Seconds() / elapsed.Seconds(),
		ClientCPU:   cpu.client.Seconds() / elapsed.Seconds(),
	}
	if s := firstErr.Load(); s != nil {
		r.FirstError = *s
	}
	return r, nil
}

// cpuTimes are the CPU times of this process (client) and of a server
// process, zero where they cannot be read.
type cpuTimes struct{ client, server time.Duration }

// readCPU reads the CPU times of this process and of process server (none
// when 0).
func readCPU(server int) cpuTimes {
	var t cpuTimes
	t.client, _ = procCPU(os.Getpid())
	if server != 0 {
		t.server, _ = procCPU(server)
	}
	return t
}

func (t cpuTimes) sub(u cpuTimes) cpuTimes {
	return cpuTimes{client: t.client - u.client, server: t.server - u.server}
}
