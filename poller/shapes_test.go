package poller_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store/memory"
)

var (
	shapeSeeds = flag.Int("shapes.seeds", 200, "number of random feed shapes TestShapes follows")
	shapeSeed  = flag.Int64("shapes.seed", -1, "follow only this seed's shape in TestShapes")
)

// shapeKind is how a generated feed lays its entries out.
type shapeKind int

const (
	shapeArchived shapeKind = iota // RFC 5005 archived feed: subscription document and archives
	shapePaged                     // RFC 5005 §3 paged feed, as EventStoreDB writes it
	shapeWindow                    // one document holding the newest entries only
	nShapeKinds
)

func (k shapeKind) String() string {
	return [...]string{"archived", "paged", "window"}[k]
}

// shape is one generated feed and how it is served and followed.
type shape struct {
	kind        shapeKind
	size        int  // entries per page (the window's size)
	newestFirst bool // entries' order within a document
	seqs        bool // ef:seq on every entry
	ties        bool // many entries share an atom:updated
	xmlBase     bool // the subscription document's links are relative to an xml:base
	via, first  bool // the subscription document links via and first
	dups        bool // some entries appear twice
	numbered    bool // paged: entry ids end in their number (else refused)

	mu      sync.Mutex
	ids     []string    // distinct entries, in the source's order
	times   []time.Time // by entry of ids
	written []int       // the entries as written, dups included: indexes into ids
}

func (sh *shape) String() string {
	return fmt.Sprintf("%v size=%d newestFirst=%v seqs=%v ties=%v xmlBase=%v via=%v first=%v dups=%v numbered=%v",
		sh.kind, sh.size, sh.newestFirst, sh.seqs, sh.ties, sh.xmlBase, sh.via, sh.first, sh.dups, sh.numbered)
}

func newShape(rnd *rand.Rand) *shape {
	sh := &shape{
		kind:        shapeKind(rnd.IntN(int(nShapeKinds))),
		size:        1 + rnd.IntN(6),
		newestFirst: rnd.IntN(2) == 0,
		seqs:        rnd.IntN(2) == 0,
		ties:        rnd.IntN(2) == 0,
		xmlBase:     rnd.IntN(2) == 0,
		via:         rnd.IntN(2) == 0,
		first:       rnd.IntN(2) == 0,
		numbered:    rnd.IntN(8) != 0,
	}
	// Duplicates are a trait of feeds without seqs.
	sh.dups = !sh.seqs && rnd.IntN(2) == 0
	if sh.kind == shapeWindow {
		sh.size += 2
	}
	return sh
}

// grow adds n entries, some of them written twice when dups.
func (sh *shape) grow(rnd *rand.Rand, n int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for range n {
		i := len(sh.ids)
		sh.ids = append(sh.ids, fmt.Sprintf("urn:shape:%d", i+1))
		t := at(0)
		if i > 0 {
			t = sh.times[i-1]
			if !sh.ties || rnd.IntN(3) == 0 {
				t = t.Add(time.Duration(1+rnd.IntN(3)) * time.Second)
			}
		}
		sh.times = append(sh.times, t)
		sh.written = append(sh.written, i)
		if sh.dups && rnd.IntN(5) == 0 {
			// A copy of a recent entry, as feeds that republish do.
			// Not after a newer one in a window: the window could
			// then show the copy where the newer entry slid out of
			// it, and nothing in the feed can tell (see the package
			// documentation).
			back := rnd.IntN(2)
			if sh.kind == shapeWindow {
				back = 0
			}
			sh.written = append(sh.written, max(i-back, 0))
		}
	}
}

func (sh *shape) entry(i int) xentry {
	e := xentry{id: sh.ids[i], updated: sh.times[i], typ: "shape", ctype: "application/json", body: `{"i":` + strconv.Itoa(i) + `}`}
	if sh.seqs {
		e.seq = uint64(i + 1)
	}
	return e
}

// page renders entries written[from:to] of the archived or window shape.
func (sh *shape) entries(from, to int) []xentry {
	var out []xentry
	for _, i := range sh.written[from:to] {
		out = append(out, sh.entry(i))
	}
	if sh.newestFirst {
		slices.Reverse(out)
	}
	return out
}

func (sh *shape) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sh.mu.Lock()
	body, ok := sh.render(r.URL.Path)
	sh.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	etag := `"` + strconv.FormatUint(fnv(body), 16) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml")
	fmt.Fprint(w, body)
}

// render writes the document at path, with sh.mu held.
func (sh *shape) render(path string) (string, bool) {
	n := len(sh.written)
	if sh.kind == shapeWindow {
		if path != "/f" {
			return "", false
		}
		return doc(false, []string{"self", "/f"}, sh.entries(max(n-sh.size, 0), n)...), true
	}
	working := n/sh.size + 1
	k := 0
	if path != "/f" {
		p, ok := strings.CutPrefix(path, "/p/")
		if !ok {
			return "", false
		}
		var err error
		if k, err = strconv.Atoi(p); err != nil || k < 1 || k > working {
			return "", false
		}
	}
	sub := k == 0
	if sub {
		k = working
	}
	// Links from the subscription document are relative to its xml:base
	// (p/) when xmlBase; the archives' to their own URLs (/p/k).
	ref := func(j int) string {
		if sub && !sh.xmlBase {
			return fmt.Sprintf("/p/%d", j)
		}
		return strconv.Itoa(j)
	}
	current := "../f"
	if sub && !sh.xmlBase {
		current = "/f"
	}
	links := []string{"current", current}
	if sub && sh.via {
		links = append(links, "via", ref(k))
	}
	if sub && sh.first {
		links = append(links, "first", ref(1))
	}
	if k > 1 {
		links = append(links, "prev-archive", ref(k-1))
	}
	if k < working {
		links = append(links, "next-archive", ref(k+1))
	}
	d := doc(k < working, links, sh.entries((k-1)*sh.size, min(k*sh.size, n))...)
	if sub && sh.xmlBase {
		d = strings.Replace(d, "<feed ", `<feed xml:base="p/" `, 1)
	}
	return d, true
}

// TestShapes follows randomly generated feeds of every shape this package
// follows (archived oldest-first and newest-first, with and without
// seqs, paged, one sliding window; ties, xml:base, duplicates), growing
// between Syncs, with the consumer restarted and interrupted at random
// points. After every Sync the replica must hold each entry of the
// source exactly once, in the source's order (for entries without seqs:
// in atom:updated order, which is all Atom orders them by), or the Sync
// must have refused the feed with a typed error; what was applied before
// a refusal or an interruption must be a part of the source applied once.
func TestShapes(t *testing.T) {
	seeds := make([]int64, 0, *shapeSeeds)
	if *shapeSeed >= 0 {
		seeds = append(seeds, *shapeSeed)
	} else {
		for s := range *shapeSeeds {
			seeds = append(seeds, int64(s))
		}
	}
	var refused, complete int
	for _, seed := range seeds {
		t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
			switch followShape(t, seed) {
			case "refused":
				refused++
			case "complete":
				complete++
			}
		})
		if t.Failed() {
			break
		}
	}
	t.Logf("%d seeds: %d followed to the end, %d refused with a typed error", len(seeds), complete, refused)
}

// followShape follows the feed of seed and reports "complete" or
// "refused".
func followShape(t *testing.T, seed int64) string {
	rnd := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	sh := newShape(rnd)
	var h http.Handler = sh
	var es *esdb
	path := "/f"
	if sh.kind == shapePaged {
		es = newESDB("s", 0)
		es.count = sh.size + 1
		es.plainIDs = !sh.numbered
		h = es
		path = "/streams/s?embed=body"
	}
	g := &gate{h: h}
	srv := httptest.NewServer(g)
	defer srv.Close()
	t.Logf("seed %d: %v", seed, sh)

	grow := func(n int) {
		if es != nil {
			es.append(n)
			return
		}
		sh.grow(rnd, n)
	}
	// A window shows only its newest entries: the source a consumer can
	// follow is what the window showed when it first applied some, and
	// what came after.
	start, started := 0, false
	want := func() ([]string, []time.Time) {
		if es != nil {
			return es.ids(srv.URL), nil
		}
		sh.mu.Lock()
		defer sh.mu.Unlock()
		idx := slices.Clone(sh.written[start:])
		slices.Sort(idx)
		idx = slices.Compact(idx)
		var ids []string
		var times []time.Time
		for _, i := range idx {
			ids, times = append(ids, sh.ids[i]), append(times, sh.times[i])
		}
		return ids, times
	}

	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.BatchSize = 1 + rnd.IntN(8)
	cfg.Prefetch = rnd.IntN(4) - 1
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 1
	}
	p := newPoller(t, srv.URL+path, r, cfg)
	grow(rnd.IntN(3 * sh.size))
	for round := range 4 + rnd.IntN(5) {
		if round > 0 {
			grow(rnd.IntN(2*sh.size + 1))
		}
		if rnd.IntN(3) == 0 {
			p = newPoller(t, srv.URL+path, r, cfg) // a restart
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		interrupt := rnd.IntN(4) == 0
		if interrupt {
			g.arm(1+rnd.IntN(4), cancel)
		}
		if !started && sh.kind == shapeWindow {
			sh.mu.Lock()
			start = max(len(sh.written)-sh.size, 0)
			sh.mu.Unlock()
		}
		err := p.Sync(ctx)
		g.arm(0, nil)
		cancel()
		got := r.Applied()
		started = started || len(got) > 0
		source, times := want()
		if testing.Verbose() {
			sh.mu.Lock()
			t.Logf("round %d: written %v, applied %q, err %v", round, sh.written, ids(got), err)
			sh.mu.Unlock()
		}
		switch {
		case err == nil:
			checkShape(t, seed, got, source, times, true)
		case errors.Is(err, poller.ErrUnsupportedFeed),
			errors.Is(err, eventfeed.ErrCheckpointLost) && sh.kind == shapeWindow:
			// A window that slid past the last entry applied has lost
			// entries: the feed cannot tell them any more.
			checkShape(t, seed, got, source, times, false)
			t.Logf("seed %d: refused in round %d: %v", seed, round, err)
			return "refused"
		case interrupt && errors.Is(err, context.Canceled):
			checkShape(t, seed, got, source, times, false)
		default:
			t.Fatalf("seed %d (%v), round %d: Sync: %v", seed, sh, round, err)
		}
	}
	return "complete"
}

// gate serves h and, when armed, cancels the consumer's context once it
// has served a number of requests: a process stopped in the middle of a
// catch-up.
type gate struct {
	h      http.Handler
	mu     sync.Mutex
	left   int
	cancel context.CancelFunc
}

func (g *gate) arm(n int, cancel context.CancelFunc) {
	g.mu.Lock()
	g.left, g.cancel = n, cancel
	g.mu.Unlock()
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.h.ServeHTTP(w, r)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cancel != nil {
		if g.left--; g.left == 0 {
			g.cancel()
			g.cancel = nil
		}
	}
}

// checkShape checks the events applied against the source's entries:
// each applied once, in order (by seq, or by time where times are
// given), and all of them when complete.
func checkShape(t *testing.T, seed int64, got []eventfeed.Event, source []string, times []time.Time, complete bool) {
	t.Helper()
	pos := make(map[string]int, len(source))
	for i, id := range source {
		pos[id] = i
	}
	seen := make(map[string]bool, len(got))
	for i, ev := range got {
		j, ok := pos[ev.ID]
		switch {
		case !ok:
			t.Fatalf("seed %d: applied %s, not an entry of the source", seed, ev.ID)
		case seen[ev.ID]:
			t.Fatalf("seed %d: applied %s twice (applied %q)", seed, ev.ID, head(ids(got)))
		}
		seen[ev.ID] = true
		if i == 0 {
			continue
		}
		prev := pos[got[i-1].ID]
		if times == nil || got[i].Seq > 0 {
			if j != prev+1 {
				t.Fatalf("seed %d: applied %s after %s, want the source's order (applied %q)", seed, ev.ID, got[i-1].ID, head(ids(got)))
			}
		} else if times[j].Before(times[prev]) {
			t.Fatalf("seed %d: applied %s (%v) after %s (%v), want atom:updated order", seed, ev.ID, times[j], got[i-1].ID, times[prev])
		}
	}
	if complete && len(got) != len(source) {
		var missing []string
		for _, id := range source {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		t.Fatalf("seed %d: applied %d of %d entries; missing %q", seed, len(got), len(source), head(missing))
	}
}
