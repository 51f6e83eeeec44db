package publisher_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/publisher"
)

// poll starts a long poll of target in the background; its response comes
// on the returned channel.
func (e *env) poll(ctx context.Context, target, etag, prefer string) <-chan response {
	ch := make(chan response, 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("If-None-Match", etag)
	req.Header.Set("Prefer", prefer)
	go func() {
		resp, err := e.tr.RoundTrip(req)
		if err != nil {
			ch <- response{}
			return
		}
		defer resp.Body.Close()
		buf, _ := io.ReadAll(resp.Body)
		ch <- response{resp, buf}
	}()
	return ch
}

// TestLongPollWakes checks that a long poll at the head is answered with
// the new document when an event arrives, on the subscription document and
// on the working page.
func TestLongPollWakes(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 4)
	for i, target := range []string{e.url("orders"), e.pageURL("orders", 2)} {
		first := e.mustGet(target)
		waiting := e.h.Stats().LongPolls
		ch := e.poll(context.Background(), target, first.Header.Get("ETag"), "respond-async, wait=100; x=1")
		waitFor(t, "the long poll to wait", func() bool { return e.h.Stats().Waiting == 1 && e.h.Stats().LongPolls > waiting })
		e.add("orders", 4+i, 5+i)
		r := <-ch
		if r.Response == nil || r.StatusCode != 200 {
			t.Fatalf("%s: long poll answered %v, want 200", target, r.Response)
		}
		if got := r.Header.Get("Preference-Applied"); got != "wait=30" {
			t.Errorf("%s: Preference-Applied %q, want wait=30 (the cap)", target, got)
		}
		if r.Header.Get("ETag") == first.Header.Get("ETag") {
			t.Errorf("%s: woken with the same ETag", target)
		}
		seqs := entrySeqs(t, atomDoc(t, r.body))
		if seqs[len(seqs)-1] != 5+i {
			t.Errorf("%s: woken with entries %v, want the new one", target, seqs)
		}
	}
}

// TestLongPollPageFills checks that a long poll of a working page that
// fills while it waits is answered with the page as an archive.
func TestLongPollPageFills(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 5)
	target := e.pageURL("orders", 2)
	first := e.mustGet(target)
	ch := e.poll(context.Background(), target, first.Header.Get("ETag"), "wait=10")
	waitFor(t, "the long poll to wait", func() bool { return e.h.Stats().Waiting == 1 })
	e.add("orders", 5, 6)
	r := <-ch
	if r.Response == nil || r.StatusCode != 200 {
		t.Fatalf("long poll answered %v, want 200", r.Response)
	}
	doc := atomDoc(t, r.body)
	if !isArchive(doc) || r.Header.Get("Cache-Control") != immutableCC {
		t.Errorf("the filled page came back as archive %v with Cache-Control %q", isArchive(doc), r.Header.Get("Cache-Control"))
	}
	if links(t, target, doc.Links)["next-archive"] != e.pageURL("orders", 3) {
		t.Errorf("the filled page does not link to page 3")
	}
	if r.Header.Get("Preference-Applied") != "wait=10" {
		t.Errorf("Preference-Applied %q, want wait=10", r.Header.Get("Preference-Applied"))
	}
}

// TestLongPollTimeout checks that a long poll whose wait passes is
// answered 304 with the applied wait, and that one not at the head, or
// without If-None-Match, does not wait.
func TestLongPollTimeout(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{MaxWait: time.Second})
	e.add("orders", 0, 4)
	first := e.mustGet(e.url("orders"))
	etag := first.Header.Get("ETag")
	r := <-e.poll(context.Background(), e.url("orders"), etag, "wait=5")
	if r.Response == nil || r.StatusCode != 304 {
		t.Fatalf("long poll answered %v, want 304", r.Response)
	}
	if r.Header.Get("Preference-Applied") != "wait=1" || r.Header.Get("ETag") != etag {
		t.Errorf("304 with Preference-Applied %q ETag %q, want wait=1 and %s", r.Header.Get("Preference-Applied"), r.Header.Get("ETag"), etag)
	}
	longPolls := e.h.Stats().LongPolls
	for _, tt := range []struct {
		name, etag, prefer string
		status             int
	}{
		{"stale ETag", `"old"`, "wait=5", 200},
		{"wait=0", etag, "wait=0", 304},
		{"malformed wait", etag, "wait=soon", 304},
		{"no wait", etag, "return=minimal", 304},
	} {
		r := <-e.poll(context.Background(), e.url("orders"), tt.etag, tt.prefer)
		if r.Response == nil || r.StatusCode != tt.status || r.Header.Get("Preference-Applied") != "" {
			t.Errorf("%s: answered %v with Preference-Applied %q, want %d at once", tt.name, r.Response, r.Header.Get("Preference-Applied"), tt.status)
		}
	}
	// A date does not start a long poll, even the current one.
	if r := e.get(e.url("orders"), "If-Modified-Since: "+first.Header.Get("Date"), "Prefer: wait=5"); r.StatusCode != 200 || r.Header.Get("Preference-Applied") != "" {
		t.Errorf("If-Modified-Since with Prefer: wait: status %d Preference-Applied %q, want 200 at once", r.StatusCode, r.Header.Get("Preference-Applied"))
	}
	if got := e.h.Stats().LongPolls; got != longPolls {
		t.Errorf("%d more long polls, want none", got-longPolls)
	}
	// A full page never waits: it never changes.
	full := e.mustGet(e.pageURL("orders", 1))
	if r := <-e.poll(context.Background(), e.pageURL("orders", 1), full.Header.Get("ETag"), "wait=5"); r.Response == nil || r.StatusCode != 304 {
		t.Errorf("long poll of a full page: %v, want 304", r.Response)
	}
	if got := e.h.Stats().LongPolls; got != longPolls {
		t.Errorf("a full page was long polled")
	}
}

// TestLongPollCloseAndCancel checks that Close ends waiting long polls
// with 304, and that a client going away ends its wait.
func TestLongPollCloseAndCancel(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 4)
	etag := e.mustGet(e.url("orders")).Header.Get("ETag")

	ctx, cancel := context.WithCancel(context.Background())
	e.poll(ctx, e.url("orders"), etag, "wait=30")
	waitFor(t, "the long poll to wait", func() bool { return e.h.Stats().Waiting == 1 })
	cancel()
	waitFor(t, "the canceled long poll to end", func() bool { return e.h.Stats().Waiting == 0 })

	var chans []<-chan response
	for range 3 {
		chans = append(chans, e.poll(context.Background(), e.url("orders"), etag, "wait=30"))
	}
	waitFor(t, "the long polls to wait", func() bool { return e.h.Stats().Waiting == 3 })
	e.h.Close()
	for _, ch := range chans {
		if r := <-ch; r.Response == nil || r.StatusCode != 304 {
			t.Errorf("after Close: %v, want 304", r.Response)
		}
	}
	// After Close a long poll answers at once.
	if r := <-e.poll(context.Background(), e.url("orders"), etag, "wait=30"); r.Response == nil || r.StatusCode != 304 || r.Header.Get("Preference-Applied") != "" {
		t.Errorf("long poll after Close: %v, want 304 without Preference-Applied", r.Response)
	}
	e.h.Close()
}

// TestLongPollThousand checks that one append wakes a thousand long polls
// and the subscription document is rendered once for all of them.
func TestLongPollThousand(t *testing.T) {
	const n = 1000
	e := newEnv(t, 100, publisher.Config{})
	e.add("orders", 0, 50)
	etag := e.mustGet(e.url("orders")).Header.Get("ETag")
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, e.url("orders"), nil)
			req.Header.Set("If-None-Match", etag)
			req.Header.Set("Prefer", "wait=60")
			resp, err := client.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	waitFor(t, "1000 long polls to wait", func() bool { return e.h.Stats().Waiting == n })
	renders := e.h.Stats().Renders
	e.add("orders", 50, 51)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 200 {
			t.Fatalf("a long poll answered %d, want 200", s)
		}
	}
	if got := e.h.Stats().Renders - renders; got != 1 {
		t.Errorf("%d renders for one append, want 1", got)
	}
}
