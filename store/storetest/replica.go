package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// ReplicaHarness tells TestReplica how to open a replica and see what it
// applied.
type ReplicaHarness struct {
	// Open returns a fresh, empty replica, released with t.Cleanup, whose
	// projection calls fail with each event before applying it: when fail
	// returns an error, the projection fails with that error. Otherwise the
	// projection records the event's ID in the replica's own storage, in
	// the same transaction as the checkpoint.
	Open func(t *testing.T, fail func(eventfeed.Event) error) store.Replica

	// Applied returns the IDs the projection of r recorded and that were
	// committed, in the order they were applied.
	Applied func(t *testing.T, r store.Replica) []string

	// Parked returns the IDs of the events parked for source, in the order
	// they were parked. It may be nil if the replica cannot list them.
	Parked func(t *testing.T, r store.Replica, source string) []string
}

// errProjection is the error the suite makes projections fail with.
var errProjection = errors.New("storetest: projection refused the event")

// TestReplica runs the conformance suite for store.Replica.
//
// It checks the fencing of store.Checkpoint.Version: an Apply or Park
// with another Version than the stored one commits nothing and wraps
// store.ErrCheckpointMoved, also when consumers race for one source.
//
// Beyond what store.Replica documents, the suite expects the store to set
// Checkpoint.Updated when it commits, to refuse a checkpoint without a
// Source, to return ctx's error (not an *store.ApplyError) when ctx is
// done, and to let Apply run for different sources concurrently.
func TestReplica(t *testing.T, h ReplicaHarness) {
	t.Helper()
	for _, c := range []struct {
		name string
		test func(*testing.T, *replicaCase)
	}{
		{"ZeroCheckpoint", testZeroCheckpoint},
		{"Apply", testApply},
		{"ApplyEmpty", testApplyEmpty},
		{"ApplyFails", testApplyFails},
		{"ApplyCanceled", testApplyCanceled},
		{"NoSource", testNoSource},
		{"Park", testPark},
		{"Sources", testSources},
		{"ConcurrentSources", testConcurrentSources},
		{"Learned", testLearned},
		{"Fencing", testFencing},
		{"FencingConcurrent", testFencingConcurrent},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := &replicaCase{h: h, t: t}
			rc.r = h.Open(t, func(ev eventfeed.Event) error {
				rc.mu.Lock()
				defer rc.mu.Unlock()
				if rc.failOn != "" && ev.ID == rc.failOn {
					return errProjection
				}
				return nil
			})
			c.test(t, rc)
		})
	}
}

type replicaCase struct {
	h ReplicaHarness
	t *testing.T
	r store.Replica

	mu     sync.Mutex
	failOn string // ID of the event the projection fails on
}

func (rc *replicaCase) failAt(id string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.failOn = id
}

func (rc *replicaCase) applied() []string {
	rc.t.Helper()
	return rc.h.Applied(rc.t, rc.r)
}

func (rc *replicaCase) checkpoint(source string) store.Checkpoint {
	rc.t.Helper()
	cp, err := rc.r.Checkpoint(context.Background(), source)
	if err != nil {
		rc.t.Fatalf("Checkpoint(%q): %v", source, err)
	}
	return cp
}

// at returns cp with the Version of the stored checkpoint of its source,
// as a consumer that read it would send it.
func (rc *replicaCase) at(cp store.Checkpoint) store.Checkpoint {
	rc.t.Helper()
	cp.Version = rc.checkpoint(cp.Source).Version
	return cp
}

// apply applies events with cp, taking the stored Version.
func (rc *replicaCase) apply(cp store.Checkpoint, events ...eventfeed.Event) {
	rc.t.Helper()
	cp = rc.at(cp)
	if err := rc.r.Apply(context.Background(), cp, events); err != nil {
		rc.t.Fatalf("Apply(%v): %v", ids(events), err)
	}
}

// checkCheckpoint compares everything but Updated, which must be set, and
// Version, which the fencing tests check.
func checkCheckpoint(t *testing.T, got, want store.Checkpoint) {
	t.Helper()
	u := got.Updated
	got.Version, want.Version = 0, 0
	if !got.Equal(want) {
		t.Errorf("Checkpoint = %+v, want %+v", got, want)
	}
	if u.IsZero() {
		t.Errorf("Checkpoint(%q).Updated is zero, want the time of its commit", got.Source)
	}
}

func checkIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

const (
	srcA = "https://orders.example/feeds/orders"
	srcB = "https://stock.example/feeds/stock?x=1"
)

func cpAt(source string, seq uint64, lastID string) store.Checkpoint {
	return store.Checkpoint{
		Source: source,
		Page:   fmt.Sprintf("%s/e1/pages/%d", source, (seq+99)/100),
		LastID: lastID,
		Seq:    seq,
		Epoch:  "e1",
	}
}

// rev is an event as a poller hands it to a replica: Feed is whatever the
// poller names the source by, not necessarily a valid feed name.
func rev(source, id string) eventfeed.Event {
	e := ev("x", id)
	e.Feed = source
	return e
}

func testZeroCheckpoint(t *testing.T, rc *replicaCase) {
	for _, src := range []string{srcA, "", "not a url"} {
		cp := rc.checkpoint(src)
		if !cp.IsZero() || cp.Source != src || cp.Seq != 0 || cp.Epoch != "" {
			t.Errorf("Checkpoint(%q) of a new replica = %+v, want zero with Source set", src, cp)
		}
	}
}

func testApply(t *testing.T, rc *replicaCase) {
	cp1 := cpAt(srcA, 3, "a3")
	rc.apply(cp1, rev(srcA, "a1"), rev(srcA, "a2"), rev(srcA, "a3"))
	checkCheckpoint(t, rc.checkpoint(srcA), cp1)
	checkIDs(t, "Applied", rc.applied(), "a1", "a2", "a3")

	cp2 := cpAt(srcA, 4, "a4")
	cp2.Epoch = ""
	rc.apply(cp2, rev(srcA, "a4"))
	checkCheckpoint(t, rc.checkpoint(srcA), cp2)
	checkIDs(t, "Applied", rc.applied(), "a1", "a2", "a3", "a4")
}

func testApplyEmpty(t *testing.T, rc *replicaCase) {
	rc.apply(cpAt(srcA, 1, "a1"), rev(srcA, "a1"))
	cp := cpAt(srcA, 1, "a1")
	cp.Page = srcA + "/e1/pages/2"
	rc.apply(cp)
	checkCheckpoint(t, rc.checkpoint(srcA), cp)
	checkIDs(t, "Applied", rc.applied(), "a1")
}

func testApplyFails(t *testing.T, rc *replicaCase) {
	before := cpAt(srcA, 1, "a1")
	rc.apply(before, rev(srcA, "a1"))
	rc.failAt("bad")
	bad := rev(srcA, "bad")
	bad.Data = []byte(`{"why":"refused"}`)
	err := rc.r.Apply(context.Background(), rc.at(cpAt(srcA, 4, "a4")), []eventfeed.Event{rev(srcA, "a2"), bad, rev(srcA, "a4")})
	ae := store.AsApplyError(err)
	switch {
	case ae == nil:
		t.Fatalf("Apply with a failing projection = %v, want a *store.ApplyError", err)
	case ae.Event.ID != "bad" || string(ae.Event.Data) != string(bad.Data):
		t.Errorf("ApplyError names event %q (data %q), want %q (data %q)", ae.Event.ID, ae.Event.Data, "bad", bad.Data)
	case !errors.Is(err, errProjection):
		t.Errorf("Apply error %v does not wrap the projection's error", err)
	}
	checkCheckpoint(t, rc.checkpoint(srcA), before)
	checkIDs(t, "Applied after a failed batch", rc.applied(), "a1")

	// The same batch applies once the projection accepts it.
	rc.failAt("")
	rc.apply(cpAt(srcA, 4, "a4"), rev(srcA, "a2"), bad, rev(srcA, "a4"))
	checkIDs(t, "Applied after the retry", rc.applied(), "a1", "a2", "bad", "a4")
}

func testApplyCanceled(t *testing.T, rc *replicaCase) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rc.r.Apply(ctx, cpAt(srcA, 1, "a1"), []eventfeed.Event{rev(srcA, "a1")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply with a canceled context = %v, want context.Canceled", err)
	}
	if cp := rc.checkpoint(srcA); !cp.IsZero() {
		t.Errorf("Checkpoint after a canceled Apply = %+v, want zero", cp)
	}
	checkIDs(t, "Applied after a canceled Apply", rc.applied())
}

func testNoSource(t *testing.T, rc *replicaCase) {
	cp := cpAt("", 1, "a1")
	if err := rc.r.Apply(context.Background(), cp, []eventfeed.Event{rev(srcA, "a1")}); err == nil {
		t.Errorf("Apply with a checkpoint without Source succeeded, want an error")
	}
	if err := rc.r.Park(context.Background(), cp, rev(srcA, "a1"), "why"); err == nil {
		t.Errorf("Park with a checkpoint without Source succeeded, want an error")
	}
	checkIDs(t, "Applied after refused calls", rc.applied())
	if cp := rc.checkpoint(""); !cp.IsZero() {
		t.Errorf("Checkpoint(\"\") = %+v, want zero", cp)
	}
}

func testPark(t *testing.T, rc *replicaCase) {
	rc.apply(cpAt(srcA, 1, "a1"), rev(srcA, "a1"))
	cp := cpAt(srcA, 2, "a2")
	reason := "projection: " + strings.Repeat("no such order; ", 3)
	if err := rc.r.Park(context.Background(), rc.at(cp), rev(srcA, "a2"), reason); err != nil {
		t.Fatalf("Park: %v", err)
	}
	checkCheckpoint(t, rc.checkpoint(srcA), cp)
	checkIDs(t, "Applied after Park", rc.applied(), "a1")
	if rc.h.Parked != nil {
		checkIDs(t, "Parked", rc.h.Parked(t, rc.r, srcA), "a2")
		checkIDs(t, "Parked of another source", rc.h.Parked(t, rc.r, srcB))
	}
	rc.apply(cpAt(srcA, 3, "a3"), rev(srcA, "a3"))
	checkIDs(t, "Applied after Park and Apply", rc.applied(), "a1", "a3")
}

func testSources(t *testing.T, rc *replicaCase) {
	cpA, cpB := cpAt(srcA, 2, "a2"), cpAt(srcB, 1, "b1")
	cpB.Epoch = "other"
	rc.apply(cpA, rev(srcA, "a1"), rev(srcA, "a2"))
	rc.apply(cpB, rev(srcB, "b1"))
	checkCheckpoint(t, rc.checkpoint(srcA), cpA)
	checkCheckpoint(t, rc.checkpoint(srcB), cpB)

	cpB2 := cpAt(srcB, 2, "b2")
	rc.apply(cpB2)
	checkCheckpoint(t, rc.checkpoint(srcA), cpA)
	checkCheckpoint(t, rc.checkpoint(srcB), cpB2)
	checkIDs(t, "Applied", rc.applied(), "a1", "a2", "b1")
}

func testConcurrentSources(t *testing.T, rc *replicaCase) {
	const sources, batches, size = 4, 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, sources)
	for s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("https://s%d.example/feeds/x", s)
			for b := range batches {
				var events []eventfeed.Event
				for i := range size {
					events = append(events, rev(src, fmt.Sprintf("s%d-%d", s, b*size+i)))
				}
				last := events[len(events)-1]
				cp := cpAt(src, uint64((b+1)*size), last.ID)
				cp.Version = uint64(b)
				if err := rc.r.Apply(context.Background(), cp, events); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Apply: %v", err)
	}
	next := make(map[int]int) // source → next event number expected
	for _, id := range rc.applied() {
		var s, n int
		if _, err := fmt.Sscanf(id, "s%d-%d", &s, &n); err != nil {
			t.Fatalf("Applied holds %q, not an event of this test", id)
		}
		if n != next[s] {
			t.Fatalf("source %d: applied event %d, want %d (each source in order, exactly once)", s, n, next[s])
		}
		next[s]++
	}
	for s := range sources {
		src := fmt.Sprintf("https://s%d.example/feeds/x", s)
		if next[s] != batches*size {
			t.Errorf("source %d: %d events applied, want %d", s, next[s], batches*size)
		}
		checkCheckpoint(t, rc.checkpoint(src), cpAt(src, batches*size, fmt.Sprintf("s%d-%d", s, batches*size-1)))
	}
}

func testLearned(t *testing.T, rc *replicaCase) {
	cp := cpAt(srcA, 0, "a2")
	cp.Order = store.OrderOldestFirst
	cp.Recent = []string{"a1", "a2", "urn:x:\"quoted\",\ncomma"}
	rc.apply(cp, rev(srcA, "a1"), rev(srcA, "a2"))
	got := rc.checkpoint(srcA)
	checkCheckpoint(t, got, cp)
	if got.Version != 1 {
		t.Errorf("Version after the first commit = %d, want 1", got.Version)
	}
	got.Recent[0] = "changed" // the caller's copy
	cp.Recent[1] = "changed too"
	checkIDs(t, "Recent read again", rc.checkpoint(srcA).Recent, "a1", "a2", "urn:x:\"quoted\",\ncomma")

	// A checkpoint without Recent clears it; Order is kept as given.
	cp2 := cpAt(srcA, 0, "a3")
	cp2.Order = store.OrderNewestFirst
	rc.apply(cp2, rev(srcA, "a3"))
	got = rc.checkpoint(srcA)
	checkCheckpoint(t, got, cp2)
	if len(got.Recent) != 0 {
		t.Errorf("Recent = %q after a commit without it, want none", got.Recent)
	}
}

func testFencing(t *testing.T, rc *replicaCase) {
	ctx := context.Background()
	moved := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrCheckpointMoved) {
			t.Errorf("%s = %v, want store.ErrCheckpointMoved", what, err)
		}
	}
	// No checkpoint yet: only Version 0 commits.
	stale := cpAt(srcA, 1, "a1")
	stale.Version = 1
	moved("Apply of Version 1 to a source never applied", rc.r.Apply(ctx, stale, []eventfeed.Event{rev(srcA, "a1")}))

	first := cpAt(srcA, 1, "a1")
	if err := rc.r.Apply(ctx, first, []eventfeed.Event{rev(srcA, "a1")}); err != nil {
		t.Fatalf("Apply of Version 0: %v", err)
	}
	if v := rc.checkpoint(srcA).Version; v != 1 {
		t.Fatalf("Version after one commit = %d, want 1", v)
	}
	// A second consumer that read the checkpoint before that commit.
	other := cpAt(srcA, 1, "x1")
	moved("Apply with the Version replaced", rc.r.Apply(ctx, other, []eventfeed.Event{rev(srcA, "x1")}))
	moved("Apply of no events with the Version replaced", rc.r.Apply(ctx, other, nil))
	moved("Park with the Version replaced", rc.r.Park(ctx, other, rev(srcA, "x1"), "why"))
	checkCheckpoint(t, rc.checkpoint(srcA), first)
	checkIDs(t, "Applied after refused calls", rc.applied(), "a1")
	if rc.h.Parked != nil {
		checkIDs(t, "Parked after a refused Park", rc.h.Parked(t, rc.r, srcA))
	}

	// A failed projection does not move the Version.
	rc.failAt("bad")
	next := cpAt(srcA, 2, "bad")
	next.Version = 1
	if err := rc.r.Apply(ctx, next, []eventfeed.Event{rev(srcA, "bad")}); store.AsApplyError(err) == nil {
		t.Fatalf("Apply with a failing projection = %v, want a *store.ApplyError", err)
	}
	if err := rc.r.Park(ctx, next, rev(srcA, "bad"), "refused"); err != nil {
		t.Fatalf("Park of Version 1: %v", err)
	}
	rc.failAt("")
	last := cpAt(srcA, 3, "a3")
	last.Version = 2
	if err := rc.r.Apply(ctx, last, []eventfeed.Event{rev(srcA, "a3")}); err != nil {
		t.Fatalf("Apply of Version 2 after a Park: %v", err)
	}
	if v := rc.checkpoint(srcA).Version; v != 3 {
		t.Errorf("Version after three commits = %d, want 3", v)
	}
	// Other sources are not fenced by this one.
	if err := rc.r.Apply(ctx, cpAt(srcB, 1, "b1"), []eventfeed.Event{rev(srcB, "b1")}); err != nil {
		t.Errorf("Apply of Version 0 to another source: %v", err)
	}
	checkIDs(t, "Applied", rc.applied(), "a1", "a3", "b1")
}

// testFencingConcurrent races consumers that read the same checkpoint:
// in each round exactly one commits.
func testFencingConcurrent(t *testing.T, rc *replicaCase) {
	const consumers, rounds = 4, 5
	var want []string
	for round := range rounds {
		version := rc.checkpoint(srcA).Version
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []string
		)
		for c := range consumers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("r%d-c%d", round, c)
				cp := cpAt(srcA, uint64(round+1), id)
				cp.Version = version
				err := rc.r.Apply(context.Background(), cp, []eventfeed.Event{rev(srcA, id)})
				switch {
				case err == nil:
					mu.Lock()
					winners = append(winners, id)
					mu.Unlock()
				case !errors.Is(err, store.ErrCheckpointMoved):
					t.Errorf("consumer %s: Apply = %v, want nil or store.ErrCheckpointMoved", id, err)
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d consumers committed (%q), want exactly 1", round, len(winners), winners)
		}
		want = append(want, winners[0])
		if cp := rc.checkpoint(srcA); cp.LastID != winners[0] || cp.Version != version+1 {
			t.Fatalf("round %d: checkpoint %+v, want LastID %s and Version %d", round, cp, winners[0], version+1)
		}
	}
	checkIDs(t, "Applied", rc.applied(), want...)
}
