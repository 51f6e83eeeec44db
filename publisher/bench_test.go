package publisher_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// benchWriter is a reusable http.ResponseWriter, so that benchmarks measure
// the handler and not httptest.ResponseRecorder's allocations.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func newBenchWriter() *benchWriter { return &benchWriter{h: make(http.Header)} }

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(status int) { w.status = status }

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// benchLog returns a publisher over a memory log holding events of feed
// "orders" in pages of pageSize, counted.
func benchLog(b *testing.B, pageSize, events int) (*publisher.Handler, *countingLog) {
	b.Helper()
	mem := memory.NewLog(memory.Options{PageSize: pageSize})
	b.Cleanup(func() { mem.Close() })
	for i := 1; i <= events; i++ {
		if _, err := mem.Append(context.Background(), testEvent("orders", i)); err != nil {
			b.Fatal(err)
		}
	}
	cl := &countingLog{Log: mem}
	h, err := publisher.New(cl, publisher.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	return h, cl
}

// serveOnce serves req and fails unless the status is want.
func serveOnce(b *testing.B, h http.Handler, w *benchWriter, req *http.Request, want int) {
	b.Helper()
	w.reset()
	h.ServeHTTP(w, req)
	if w.status != want {
		b.Fatalf("%s %s: status %d, want %d", req.Method, req.URL, w.status, want)
	}
}

// BenchmarkFullPageCached serves a cached archive page of 100 entries,
// identity and gzipped, serially and from every core.
func BenchmarkFullPageCached(b *testing.B) {
	for _, enc := range []string{"identity", "gzip"} {
		for _, parallel := range []bool{false, true} {
			name := enc
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				h, cl := benchLog(b, 100, 250)
				f, _ := cl.Feed(context.Background(), "orders")
				newReq := func() *http.Request {
					req := httptest.NewRequest(http.MethodGet, "/orders/"+f.Epoch+"/pages/1", nil)
					if enc == "gzip" {
						req.Header.Set("Accept-Encoding", "gzip, deflate, br")
					}
					req.Header.Set("Accept", "application/atom+xml")
					return req
				}
				w := newBenchWriter()
				// Page 2 first, so that serving page 1 on a miss finds
				// it cached and reads nothing ahead while measured.
				serveOnce(b, h, w, httptest.NewRequest(http.MethodGet, "/orders/"+f.Epoch+"/pages/2", nil), http.StatusOK)
				serveOnce(b, h, w, newReq(), http.StatusOK)
				reads := cl.reads.Load()
				b.SetBytes(int64(w.n))
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.RunParallel(func(pb *testing.PB) {
						w, req := newBenchWriter(), newReq()
						for pb.Next() {
							w.reset()
							h.ServeHTTP(w, req)
						}
					})
				} else {
					req := newReq()
					for b.Loop() {
						w.reset()
						h.ServeHTTP(w, req)
					}
				}
				b.StopTimer()
				if got := cl.reads.Load() - reads; got != 0 {
					b.Fatalf("%d store reads serving a cached page", got)
				}
			})
		}
	}
}

// Benchmark304AtHead answers a conditional GET of the subscription
// document whose If-None-Match is the current ETag.
func Benchmark304AtHead(b *testing.B) {
	for _, target := range []string{"subscription", "working-page"} {
		b.Run(target, func(b *testing.B) {
			h, cl := benchLog(b, 100, 250)
			f, _ := cl.Feed(context.Background(), "orders")
			path := "/orders"
			if target == "working-page" {
				path = "/orders/" + f.Epoch + "/pages/3"
			}
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			w := newBenchWriter()
			serveOnce(b, h, w, req, http.StatusOK)
			req.Header.Set("If-None-Match", w.h.Get("Etag"))
			serveOnce(b, h, w, req, http.StatusNotModified)
			reads := cl.reads.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, req)
			}
			b.StopTimer()
			if w.status != http.StatusNotModified {
				b.Fatalf("status %d, want 304", w.status)
			}
			if got := cl.reads.Load() - reads; got != 0 {
				b.Fatalf("%d store reads answering 304", got)
			}
		})
	}
}

// BenchmarkLongPollWake holds n long polls at the head, appends one event
// and waits for every poll to be answered with the new document: the
// working page is rendered once per append, whatever n.
func BenchmarkLongPollWake(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			mem := memory.NewLog(memory.Options{PageSize: 100})
			b.Cleanup(func() { mem.Close() })
			if _, err := mem.Append(context.Background(), testEvent("orders", 1)); err != nil {
				b.Fatal(err)
			}
			h, err := publisher.New(mem, publisher.Config{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(h.Close)
			writers := make([]*benchWriter, n)
			reqs := make([]*http.Request, n)
			for i := range writers {
				writers[i] = newBenchWriter()
				reqs[i] = httptest.NewRequest(http.MethodGet, "/orders", nil)
				reqs[i].Header.Set("Prefer", "wait=60")
			}
			probe := newBenchWriter()
			serveOnce(b, h, probe, httptest.NewRequest(http.MethodGet, "/orders", nil), http.StatusOK)
			seq := 1
			renders := h.Stats().Renders
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serveOnce(b, h, probe, httptest.NewRequest(http.MethodGet, "/orders", nil), http.StatusOK)
				etag := probe.h.Get("Etag")
				var wg sync.WaitGroup
				for i := range n {
					reqs[i].Header.Set("If-None-Match", etag)
					writers[i].reset()
					wg.Go(func() { h.ServeHTTP(writers[i], reqs[i]) })
				}
				for h.Stats().Waiting != int64(n) {
					runtime.Gosched()
				}
				seq++
				if _, err := mem.Append(context.Background(), testEvent("orders", seq)); err != nil {
					b.Fatal(err)
				}
				wg.Wait()
				for _, w := range writers {
					if w.status != http.StatusOK {
						b.Fatalf("a long poll answered %d, want 200", w.status)
					}
				}
			}
			b.StopTimer()
			// The probe at the top of each iteration finds the document
			// the woken polls had rendered.
			b.ReportMetric(float64(h.Stats().Renders-renders)/float64(b.N), "renders/append")
		})
	}
}
