package poller_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store/memory"
)

// holdSite serves docs as site does, except that it sends the document at
// hold up to its first entry's start tag (padded past what the Poller
// sniffs) and holds
// the rest until the document at until is asked for, or holdFor passes: a
// Poller that fetches ahead asks for the next page while the one before it
// is still being read.
type holdSite struct {
	*site
	hold, until string
	arrived     chan struct{} // closed by the first request for until
	once        sync.Once
	early       atomic.Bool // until was asked for while hold was held
}

// holdFor bounds the hold, so that a Poller that does not fetch ahead
// still finishes (and the test reports it).
const holdFor = 10 * time.Second

func newHoldSite(s *site, hold, until string) *holdSite {
	return &holdSite{site: s, hold: hold, until: until, arrived: make(chan struct{})}
}

func (h *holdSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == h.until {
		h.once.Do(func() { close(h.arrived) })
	}
	if r.URL.Path != h.hold {
		h.site.ServeHTTP(w, r)
		return
	}
	h.site.mu.Lock()
	body := h.site.docs[h.hold]
	h.site.hits[h.hold]++
	h.site.mu.Unlock()
	i := strings.Index(body, "<entry>")
	w.Header().Set("Content-Type", "application/atom+xml")
	io.WriteString(w, body[:i]+"<!--"+strings.Repeat(" ", 4096)+"--><entry>")
	w.(http.Flusher).Flush()
	timer := time.NewTimer(holdFor)
	defer timer.Stop()
	select {
	case <-h.arrived:
		h.early.Store(true)
	case <-timer.C:
	case <-r.Context().Done():
		return
	}
	io.WriteString(w, body[i+len("<entry>"):])
}

// chain returns the documents of an archived feed of pages of three
// entries: /p/1 … /p/n linked by next-archive, then the subscription
// document /f (the working page, with first), and the IDs in order.
func chain(n int) (map[string]string, []string) {
	docs := make(map[string]string)
	var want []string
	page := func(k int) []xentry {
		var es []xentry
		for j := 1; j <= 3; j++ {
			seq := uint64(3*(k-1) + j)
			id := "e" + strconv.Itoa(int(seq))
			es = append(es, xentry{id: id, seq: seq, updated: at(int(seq)), typ: "t", ctype: "application/json", body: "{}"})
			want = append(want, id)
		}
		return es
	}
	for k := 1; k <= n; k++ {
		links := []string{"self", "/p/" + strconv.Itoa(k), "current", "/f", "next-archive", "/p/" + strconv.Itoa(k+1)}
		if k == n {
			links[5] = "/f"
		}
		docs["/p/"+strconv.Itoa(k)] = doc(true, links, page(k)...)
	}
	docs["/f"] = doc(false, []string{"self", "/f", "current", "/f", "first", "/p/1", "prev-archive", "/p/" + strconv.Itoa(n)}, page(n+1)...)
	return docs, want
}

// TestFetchAhead checks that the request for a page goes out while the
// page before it is still being read, once its links are: the walk does
// not wait for a page's entries to ask for the next.
func TestFetchAhead(t *testing.T) {
	docs, want := chain(4)
	hs := newHoldSite(newSite(docs), "/p/2", "/p/3")
	srv := httptest.NewServer(hs)
	defer srv.Close()
	r := memory.NewReplica(nil)
	p := newPoller(t, srv.URL+"/f", r, fastRetry())
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	sameIDs(t, ids(r.Applied()), want)
	if !hs.early.Load() {
		t.Errorf("/p/3 was not asked for while /p/2 was being read")
	}
	if cp := checkpointOf(t, r, p.Source()); cp.LastID != want[len(want)-1] {
		t.Errorf("checkpoint at %s, want %s", cp.LastID, want[len(want)-1])
	}
}

// TestFetchAheadDropped checks that a page fetched ahead is dropped when
// the page before it turns out bad: nothing after the last good page is
// applied, and the next Sync applies the rest once.
func TestFetchAheadDropped(t *testing.T) {
	docs, want := chain(4)
	good := docs["/p/2"]
	// /p/2 keeps its links; its second entry has no atom:id.
	docs["/p/2"] = strings.Replace(good, "<id>e5</id>", "", 1)
	hs := newHoldSite(newSite(docs), "/p/2", "/p/3")
	srv := httptest.NewServer(hs)
	defer srv.Close()
	r := memory.NewReplica(nil)
	p := newPoller(t, srv.URL+"/f", r, fastRetry())
	err := syncCtx(t, p)
	if !errors.Is(err, poller.ErrInvalidEntry) {
		t.Fatalf("Sync: got %v, want ErrInvalidEntry", err)
	}
	if !hs.early.Load() {
		t.Fatalf("/p/3 was not asked for while /p/2 was being read: nothing was fetched ahead")
	}
	sameIDs(t, ids(r.Applied()), want[:3])
	if cp := checkpointOf(t, r, p.Source()); cp.LastID != "e3" || !strings.HasSuffix(cp.Page, "/p/1") {
		t.Errorf("checkpoint at %s on %s, want e3 on /p/1", cp.LastID, cp.Page)
	}

	hs.site.set("/p/2", good)
	if err := syncCtx(t, p); err != nil {
		t.Fatalf("Sync after the fix: %v", err)
	}
	sameIDs(t, ids(r.Applied()), want)
}

// TestFetchAheadStops checks that a Sync cancelled while a page is fetched
// ahead leaves no goroutine behind and applies only whole pages.
func TestFetchAheadStops(t *testing.T) {
	docs, want := chain(4)
	hs := newHoldSite(newSite(docs), "/p/3", "never")
	srv := httptest.NewServer(hs)
	defer srv.Close()
	r := memory.NewReplica(nil)
	p := newPoller(t, srv.URL+"/f", r, fastRetry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := runtime.NumGoroutine()
	done := make(chan error, 1)
	go func() { done <- p.Sync(ctx) }()
	// /p/3 is held: wait until its head has been read and /p/4 asked for.
	waitFor(t, holdFor, func() bool {
		hs.site.mu.Lock()
		defer hs.site.mu.Unlock()
		return hs.site.hits["/p/4"] > 0
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync: got %v, want context.Canceled", err)
	}
	got := ids(r.Applied())
	if len(got)%3 != 0 || len(got) > 6 {
		t.Fatalf("applied %v: want whole pages before /p/3", got)
	}
	sameIDs(t, got, want[:len(got)])
	waitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before })
}
