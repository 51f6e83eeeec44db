package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

func TestSummarize(t *testing.T) {
	d := func(msecs ...int) []time.Duration {
		var s []time.Duration
		for _, m := range msecs {
			s = append(s, time.Duration(m)*time.Millisecond)
		}
		return s
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(100-i) * time.Millisecond // reversed: summarize sorts
	}
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		want    Percentiles
	}{
		{"none", nil, Percentiles{}},
		{"one", d(7), Percentiles{N: 1, P50: 7, P90: 7, P99: 7, Max: 7}},
		{"two", d(2, 1), Percentiles{N: 2, P50: 1, P90: 2, P99: 2, Max: 2}},
		{"hundred", hundred, Percentiles{N: 100, P50: 50, P90: 90, P99: 99, Max: 100}},
	} {
		if got := summarize(tc.samples); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestLinkHref(t *testing.T) {
	doc := []byte(`<feed xmlns="http://www.w3.org/2005/Atom">
<link rel="self" href="/feeds/x"/>
<link href="x/e1/pages/1?a=1&amp;b=2" rel="first"></link>
<link rel='via' href='x/e1/pages/3'/>
</feed>`)
	for _, tc := range []struct {
		rel, base, want string
		err             bool
	}{
		{"first", "http://h:1/feeds/x", "http://h:1/feeds/x/e1/pages/1?a=1&b=2", false},
		{"via", "http://h:1/feeds/x", "http://h:1/feeds/x/e1/pages/3", false},
		{"self", "http://h:1/feeds/y", "http://h:1/feeds/x", false},
		{"prev-archive", "http://h:1/feeds/x", "", true},
	} {
		got, err := linkHref(doc, tc.rel, tc.base)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("linkHref(%s, %s): got %q, %v; want %q, error %v", tc.rel, tc.base, got, err, tc.want, tc.err)
		}
	}
}

func TestPageURL(t *testing.T) {
	if got, err := pageURL("http://h/feeds/x/e/pages/1", 42); got != "http://h/feeds/x/e/pages/42" || err != nil {
		t.Errorf("got %q, %v; want http://h/feeds/x/e/pages/42", got, err)
	}
	if got, err := pageURL("http://h/feeds/x/e/pages/first", 2); err == nil {
		t.Errorf("got %q and no error for a URL not ending in /1", got)
	}
}

func TestLineWatcher(t *testing.T) {
	found := make(chan string, 1)
	w := &lineWatcher{prefix: "serving ", found: found}
	for _, p := range []string{"starting\nserv", "ing http://127.0.0.1:1/feeds/\nmore\n", "serving again\n"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	select {
	case got := <-found:
		if got != "serving http://127.0.0.1:1/feeds/" {
			t.Errorf("got %q, want the first serving line", got)
		}
	default:
		t.Fatal("no line found")
	}
	if len(found) != 0 {
		t.Error("a second line was sent")
	}
}

func TestTail(t *testing.T) {
	var tl tail
	if got := tl.String(); got != "(no output)" {
		t.Errorf("empty: got %q", got)
	}
	fmt.Fprint(&tl, strings.Repeat("a", tailSize), "end\n")
	if got := tl.String(); len(got) != tailSize-1 || !strings.HasSuffix(got, "aend") {
		t.Errorf("got %d bytes ending %q, want the last %d bytes, trimmed", len(got), got[len(got)-4:], tailSize)
	}
}

func TestProcMemory(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		testenv.Missing(t, "/proc")
	}
	rss, peak, err := procMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || peak < rss {
		t.Errorf("got RSS %d, peak %d; want 0 < RSS <= peak", rss, peak)
	}
	// Touch 64 MiB, give it back, reset the peak: the peak falls back to
	// what the process holds then. How much the process holds then is the
	// runtime's business (under -race the detector's shadow of the 64 MiB
	// stays mapped), so the test asks only that the peak left the high
	// mark and now follows the RSS.
	b := make([]byte, 64<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	_, high, err := procMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
	debug.FreeOSMemory()
	if err := resetPeak(os.Getpid()); err != nil {
		t.Skipf("cannot reset the peak RSS here: %v", err)
	}
	rssAfter, low, err := procMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if high < 64<<20 || low >= high || low > rssAfter+16<<20 {
		t.Errorf("got peak %d MiB while holding 64 MiB, then %d MiB after giving it back and resetting, with %d MiB resident; want >= 64, then below it and within 16 MiB of the resident size",
			high>>20, low>>20, rssAfter>>20)
	}
}

func TestLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusTeapot)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	for _, tc := range []struct {
		path     string
		bodyLen  int64
		wantOK   bool
		wantFail string
	}{
		{"/", 5, true, ""},
		{"/", -1, true, ""},
		{"/", 6, false, "body of 5 bytes, want 6"},
		{"/bad", -1, false, "status 418, want 200"},
	} {
		r, err := load{addr: addr, req: request("GET", addr, tc.path, nil), status: 200, bodyLen: tc.bodyLen,
			conns: 2, warmup: 20 * time.Millisecond, duration: 100 * time.Millisecond}.run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tc.wantOK && (r.Requests == 0 || r.Errors != 0 || r.Latency.N != int(r.Requests) || r.PerSecond <= 0) {
			t.Errorf("%s, length %d: got %+v, want requests and no errors", tc.path, tc.bodyLen, r)
		}
		if !tc.wantOK && (r.Requests != 0 || r.Errors == 0 || !strings.Contains(r.FirstError, tc.wantFail)) {
			t.Errorf("%s, length %d: got %d requests, %d errors, first %q; want only errors, %q", tc.path, tc.bodyLen, r.Requests, r.Errors, r.FirstError, tc.wantFail)
		}
	}
}

func TestNginx(t *testing.T) {
	path := testenv.Command(t, "nginx")
	body := []byte("<feed/>")
	n, err := startNginx(context.Background(), path, t.TempDir(), map[string][]byte{"page.xml": body})
	if err != nil {
		t.Fatal(err)
	}
	defer n.stop()
	resp, err := get(context.Background(), n.addr, request("GET", n.addr, "/page.xml", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.status != 200 || !bytes.Equal(resp.body, body) || resp.etag == "" {
		t.Fatalf("GET: got %d, %q, ETag %q; want 200, %q and an ETag", resp.status, resp.body, resp.etag, body)
	}
	resp, err = get(context.Background(), n.addr, request("GET", n.addr, "/page.xml", nil, "If-None-Match: "+resp.etag))
	if err != nil || resp.status != 304 {
		t.Errorf("conditional GET: got %d, %v; want 304", resp.status, err)
	}
}

func TestTimedReplica(t *testing.T) {
	r := newTimedReplica(memory.NewReplica(nil))
	ctx := context.Background()
	done := make(chan error)
	go func() {
		time.Sleep(10 * time.Millisecond)
		r.Apply(ctx, store.Checkpoint{Source: "s", LastID: "b", Seq: 2}, []eventfeed.Event{
			{Feed: "f", Seq: 1, ID: "a", Type: "t"}, {Feed: "f", Seq: 2, ID: "b", Type: "t"},
		})
	}()
	if err := r.waitFor(ctx, 2, 10*time.Second, done); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for seq, at := range r.committedRange(1, 3) {
		if at.IsZero() {
			t.Errorf("seq %d: zero time", seq)
		}
		seqs = append(seqs, seq)
	}
	if fmt.Sprint(seqs) != "[1 2]" {
		t.Errorf("got seqs %v, want [1 2]", seqs)
	}
	if err := r.waitFor(ctx, 3, 10*time.Millisecond, done); err == nil {
		t.Error("waitFor(3) returned no error, want a timeout")
	}
}

func TestEnvCheck(t *testing.T) {
	ok := Env{Command: func(args ...string) *exec.Cmd { return exec.Command("eventfeed", args...) }, Dir: t.TempDir(), Event: func(string, int, int) eventfeed.Event { return eventfeed.Event{} }}
	if err := ok.check(); err != nil {
		t.Errorf("complete Env: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Env)
	}{
		{"no Command", func(e *Env) { e.Command = nil }},
		{"no Dir", func(e *Env) { e.Dir = "" }},
		{"no Event", func(e *Env) { e.Event = nil }},
	} {
		e := ok
		tc.edit(&e)
		if _, err := Catchup(context.Background(), &e, CatchupConfig{}); err == nil {
			t.Errorf("%s: Catchup returned no error", tc.name)
		}
	}
}
