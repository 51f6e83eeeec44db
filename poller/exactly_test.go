package poller_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// appliedOnce fails t unless got holds each of want exactly once and
// nothing else.
func appliedOnce(t *testing.T, got []string, want ...string) {
	t.Helper()
	count := make(map[string]int)
	for _, id := range got {
		count[id]++
	}
	for _, id := range want {
		if count[id] != 1 {
			t.Errorf("%s applied %d times, want once (applied %q)", id, count[id], got)
		}
		delete(count, id)
	}
	for id := range count {
		t.Errorf("%s applied, not in the feed (applied %q)", id, got)
	}
}

// TestTiesGrowth serves a feed without ef:seq whose entries share one
// atom:updated, oldest first, and grows it: the page's times cannot tell
// its direction, and what follows the last entry applied depends on it.
// Each entry must be applied once, whether the same Poller or a new one
// (a restart) reads the grown page.
func TestTiesGrowth(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			s := newSite(map[string]string{"/f": doc(false, nil, jsonEntry("A", 1), jsonEntry("B", 1))})
			srv := httptest.NewServer(s)
			defer srv.Close()
			r := memory.NewReplica(nil)
			p := newPoller(t, srv.URL+"/f", r, fastRetry())
			if err := syncCtx(t, p); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			s.set("/f", doc(false, nil, jsonEntry("A", 1), jsonEntry("B", 1), jsonEntry("C", 1)))
			if restart {
				p = newPoller(t, srv.URL+"/f", r, fastRetry())
			}
			if err := syncCtx(t, p); err != nil {
				t.Fatalf("Sync after growth: %v", err)
			}
			appliedOnce(t, ids(r.Applied()), "A", "B", "C")
			s.set("/f", doc(false, nil, jsonEntry("A", 1), jsonEntry("B", 1), jsonEntry("C", 1), jsonEntry("D", 1)))
			if err := syncCtx(t, newPoller(t, srv.URL+"/f", r, fastRetry())); err != nil {
				t.Fatalf("Sync after more growth: %v", err)
			}
			appliedOnce(t, ids(r.Applied()), "A", "B", "C", "D")
		})
	}
}

// TestRestartDuplicates restarts the consumer between two reads of a feed
// without ef:seq whose grown page tells another entry order than the
// first read assumed: what was applied before the restart is not applied
// again.
func TestRestartDuplicates(t *testing.T) {
	s := newSite(map[string]string{"/f": doc(false, nil, jsonEntry("A", 1), jsonEntry("B", 1))})
	srv := httptest.NewServer(s)
	defer srv.Close()
	r := memory.NewReplica(nil)
	if err := syncCtx(t, newPoller(t, srv.URL+"/f", r, fastRetry())); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	s.set("/f", doc(false, nil, jsonEntry("A", 1), jsonEntry("B", 1), jsonEntry("C", 2)))
	if err := syncCtx(t, newPoller(t, srv.URL+"/f", r, fastRetry())); err != nil {
		t.Fatalf("Sync after the restart: %v", err)
	}
	got := ids(r.Applied())
	appliedOnce(t, got, "A", "B", "C")
	if len(got) == 3 && got[2] != "C" {
		t.Errorf("applied %q, want C, the newest, last", got)
	}
	cp := checkpointOf(t, r, srv.URL+"/f")
	if cp.Order != store.OrderOldestFirst {
		t.Errorf("checkpoint's Order = %v, want %v, told by the grown page", cp.Order, store.OrderOldestFirst)
	}
}

// TestRecentWindow checks the window of IDs the checkpoint keeps for a
// feed without ef:seq: at least Config.RecentIDs and at least two pages,
// and what happens beyond it: an entry that comes back after more than
// that many others were applied is applied again.
func TestRecentWindow(t *testing.T) {
	s := newSite(map[string]string{"/f": doc(false, nil, jsonEntry("e1", 1), jsonEntry("e2", 2))})
	srv := httptest.NewServer(s)
	defer srv.Close()
	r := memory.NewReplica(nil)
	cfg := fastRetry()
	cfg.RecentIDs = 1
	sync := func(want ...string) {
		t.Helper()
		if err := syncCtx(t, newPoller(t, srv.URL+"/f", r, cfg)); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		sameIDs(t, ids(r.Applied()), want)
	}
	recent := func(want ...string) {
		t.Helper()
		if got := checkpointOf(t, r, srv.URL+"/f").Recent; !slices.Equal(got, want) {
			t.Errorf("Recent = %q, want %q", got, want)
		}
	}
	sync("e1", "e2")
	recent("e1", "e2") // two pages of one entry at least
	// The document slides on, one entry at a time: the window stays at
	// two pages of two.
	all := []string{"e1", "e2"}
	for n := 3; n <= 7; n++ {
		s.set("/f", doc(false, nil, jsonEntry(fmt.Sprintf("e%d", n), n), jsonEntry(fmt.Sprintf("e%d", n-1), n-1)))
		all = append(all, fmt.Sprintf("e%d", n))
		sync(all...)
	}
	recent("e4", "e5", "e6", "e7")
	// The same document read again by a new Poller: nothing new.
	sync(all...)
	// Beyond the window: e1 comes back, with a new time.
	s.set("/f", doc(false, nil, jsonEntry("e1", 8), jsonEntry("e7", 7)))
	sync(append(all, "e1")...)
}

// TestTwoConsumers runs two Pollers, each with its own handle on one
// SQLite replica file, on one growing source at the same time: every
// event is applied exactly once, in order, and a Poller whose checkpoint
// the other moved stops with store.ErrCheckpointMoved and resumes when
// started again.
func TestTwoConsumers(t *testing.T) {
	for _, noSeq := range []bool{false, true} {
		t.Run(fmt.Sprintf("noSeq=%v", noSeq), func(t *testing.T) {
			f := newSeqFeed(7, 30)
			f.noSeq = noSeq
			srv := httptest.NewServer(f)
			defer srv.Close()
			path := filepath.Join(t.TempDir(), "replica.db")
			ctx := context.Background()
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				moved int
			)
			const rounds = 15
			start := make(chan struct{})
			for c := range 2 {
				r, err := openLogReplica(ctx, path, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for i := range rounds {
						if c == 0 {
							f.append(i % 4)
						}
						cfg := fastRetry()
						cfg.BatchSize = 3
						cfg.Prefetch = -1
						err := syncCtx(t, newPoller(t, srv.URL+"/feed", r, cfg))
						switch {
						case errors.Is(err, store.ErrCheckpointMoved):
							mu.Lock()
							moved++
							mu.Unlock()
						case err != nil:
							t.Errorf("consumer %d: Sync: %v", c, err)
							return
						}
					}
				}()
			}
			close(start)
			wg.Wait()
			// One more Sync catches up with what the last race left.
			r, err := openLogReplica(ctx, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := syncCtx(t, newPoller(t, srv.URL+"/feed", r, fastRetry())); err != nil {
				t.Fatalf("last Sync: %v", err)
			}
			rows, err := r.DB().QueryContext(ctx, `SELECT id FROM applied ORDER BY n`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				got = append(got, id)
			}
			sameIDs(t, got, f.all())
			t.Logf("%d Syncs stopped by the other consumer's commit", moved)
		})
	}
}

// TestLegacyCheckpoint resumes a feed without ef:seq from a checkpoint
// that keeps no IDs, as checkpoints written before they kept them: what
// follows its entry is applied, nothing before it again.
func TestLegacyCheckpoint(t *testing.T) {
	s := newSite(map[string]string{
		"/a": doc(true, []string{"next-archive", "/f"}, jsonEntry("b", 2), jsonEntry("a", 1)),
		"/f": doc(false, []string{"prev-archive", "/a"}, jsonEntry("d", 4), jsonEntry("c", 3)),
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	r := memory.NewReplica(nil)
	var events []eventfeed.Event
	for _, id := range []string{"a", "b", "c"} {
		events = append(events, eventfeed.Event{ID: id, Type: "t"})
	}
	if err := r.Apply(context.Background(), store.Checkpoint{Source: srv.URL + "/f", Page: srv.URL + "/f", LastID: "c"}, events); err != nil {
		t.Fatal(err)
	}
	if err := syncCtx(t, newPoller(t, srv.URL+"/f", r, fastRetry())); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	sameIDs(t, ids(r.Applied()), []string{"a", "b", "c", "d"})
}
