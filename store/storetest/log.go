package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// hang is how long a test waits for something that should happen at once
// before it calls the log stuck. It guards against hanging, not timing.
const hang = 10 * time.Second

// TestLog runs the conformance suite for store.Log. open must return a
// fresh, empty log configured with the default page size
// (store.DefaultPageSize), and release it with t.Cleanup.
//
// Beyond what store.Log documents, the suite holds a log to what the
// publisher relies on: times are kept to the nanosecond (a retry that
// carries the stored time is a replay, not a conflict); Data is copied, so
// a caller may reuse its buffer; an Append whose ctx is already done stores
// nothing and returns ctx's error; an event ID is unique across all feeds;
// Wait on an invalid feed name fails at once with
// eventfeed.ErrInvalidFeedName; and an epoch is a short token fit for a
// URL path.
func TestLog(t *testing.T, open func(t *testing.T) store.Log) {
	t.Helper()
	for _, c := range []struct {
		name string
		test func(*testing.T, store.Log)
	}{
		{"AppendAssignsSeq", testAppendAssignsSeq},
		{"AppendTime", testAppendTime},
		{"AppendManyFeeds", testAppendManyFeeds},
		{"AppendNothing", testAppendNothing},
		{"AppendCanceled", testAppendCanceled},
		{"Replay", testReplay},
		{"Conflict", testConflict},
		{"Invalid", testInvalid},
		{"Read", testRead},
		{"ReadUnknownFeed", testReadUnknownFeed},
		{"Feed", testFeed},
		{"Feeds", testFeeds},
		{"ConcurrentAppends", testConcurrentAppends},
		{"WaitPassed", testWaitPassed},
		{"WaitWakes", testWaitWakes},
		{"WaitNewFeed", testWaitNewFeed},
		{"WaitCanceled", testWaitCanceled},
		{"WaitInvalidFeed", testWaitInvalidFeed},
		{"WaitMany", testWaitMany},
		{"Data", testData},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

// ev returns a valid event of feed with the given ID.
func ev(feed, id string) eventfeed.Event {
	return eventfeed.Event{
		Feed:    feed,
		ID:      id,
		Type:    "thing.happened",
		Subject: "thing-" + id,
		Data:    []byte(`{"id":"` + id + `"}`),
	}
}

func mustAppend(t *testing.T, l store.Log, events ...eventfeed.Event) []eventfeed.Event {
	t.Helper()
	out, err := l.Append(context.Background(), events...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(out) != len(events) {
		t.Fatalf("Append returned %d events, want %d", len(out), len(events))
	}
	return out
}

func mustRead(t *testing.T, l store.Log, feed string, from, to uint64) []eventfeed.Event {
	t.Helper()
	out, err := l.Read(context.Background(), feed, from, to)
	if err != nil {
		t.Fatalf("Read(%q, %d, %d): %v", feed, from, to, err)
	}
	return out
}

func mustFeed(t *testing.T, l store.Log, name string) store.Feed {
	t.Helper()
	f, err := l.Feed(context.Background(), name)
	if err != nil {
		t.Fatalf("Feed(%q): %v", name, err)
	}
	return f
}

// diff describes how got differs from want, "" when they are the same
// event. A zero want.Time or want.Seq is not compared.
func diff(got, want eventfeed.Event) string {
	var d []string
	if got.Feed != want.Feed {
		d = append(d, fmt.Sprintf("Feed %q, want %q", got.Feed, want.Feed))
	}
	if want.Seq != 0 && got.Seq != want.Seq {
		d = append(d, fmt.Sprintf("Seq %d, want %d", got.Seq, want.Seq))
	}
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID %q, want %q", got.ID, want.ID))
	}
	if got.Type != want.Type {
		d = append(d, fmt.Sprintf("Type %q, want %q", got.Type, want.Type))
	}
	if got.Subject != want.Subject {
		d = append(d, fmt.Sprintf("Subject %q, want %q", got.Subject, want.Subject))
	}
	if !want.Time.IsZero() && !got.Time.Equal(want.Time) {
		d = append(d, fmt.Sprintf("Time %v, want %v", got.Time, want.Time))
	}
	if got.MediaType() != want.MediaType() {
		d = append(d, fmt.Sprintf("media type %q, want %q", got.MediaType(), want.MediaType()))
	}
	if !bytes.Equal(got.Data, want.Data) {
		d = append(d, fmt.Sprintf("Data %s, want %s", abbrev(got.Data), abbrev(want.Data)))
	}
	return strings.Join(d, "; ")
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q… (%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// checkEvents reports where got differs from want, event by event.
func checkEvents(t *testing.T, what string, got, want []eventfeed.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d events %v, want %d %v", what, len(got), ids(got), len(want), ids(want))
		return
	}
	for i := range got {
		if d := diff(got[i], want[i]); d != "" {
			t.Errorf("%s: event %d: %s", what, i, d)
		}
	}
}

func ids(events []eventfeed.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = fmt.Sprintf("%s@%s/%d", e.ID, e.Feed, e.Seq)
	}
	return out
}

// withSeq returns e with Seq set.
func withSeq(e eventfeed.Event, seq uint64) eventfeed.Event {
	e.Seq = seq
	return e
}

func testAppendAssignsSeq(t *testing.T, l store.Log) {
	var want []eventfeed.Event
	for i := range 5 {
		e := ev("orders", fmt.Sprintf("o%d", i+1))
		got := mustAppend(t, l, e)
		checkEvents(t, "Append", got, []eventfeed.Event{withSeq(e, uint64(i+1))})
		want = append(want, withSeq(e, uint64(i+1)))
	}
	batch := []eventfeed.Event{ev("orders", "o6"), ev("orders", "o7"), ev("orders", "o8")}
	got := mustAppend(t, l, batch...)
	for i, e := range batch {
		want = append(want, withSeq(e, uint64(6+i)))
	}
	checkEvents(t, "Append batch", got, want[5:])
	checkEvents(t, "Read", mustRead(t, l, "orders", 1, 100), want)
	if f := mustFeed(t, l, "orders"); f.Head != 8 {
		t.Errorf("Feed head = %d, want 8", f.Head)
	}
}

func testAppendTime(t *testing.T, l store.Log) {
	given := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))
	a, b := ev("t", "given"), ev("t", "zero")
	a.Time = given
	before := time.Now()
	got := mustAppend(t, l, a, b)
	after := time.Now()
	// The Log keeps a time to the eventfeed.TimePrecision, as the feed
	// publishes it, so that a consumer reads exactly what is stored.
	if want := given.Truncate(eventfeed.TimePrecision); !got[0].Time.Equal(want) || got[0].Time.Location() != time.UTC {
		t.Errorf("Append kept Time %v, want %v (in UTC, to the millisecond)", got[0].Time, want.UTC())
	}
	filled := got[1].Time
	if filled.Truncate(eventfeed.TimePrecision) != filled {
		t.Errorf("Append filled Time with %v, finer than %v", filled, eventfeed.TimePrecision)
	}
	if filled.IsZero() || filled.Before(before.Add(-time.Second)) || filled.After(after.Add(time.Second)) {
		t.Errorf("Append filled Time with %v, want the time of the call (%v to %v)", filled, before, after)
	}
	read := mustRead(t, l, "t", 1, 2)
	a.Time = got[0].Time
	checkEvents(t, "Read", read, []eventfeed.Event{withSeq(a, 1), withSeq(b, 2)})
	if len(read) == 2 && !read[1].Time.Equal(filled) {
		t.Errorf("Read Time = %v, want %v as Append returned", read[1].Time, filled)
	}
	if f := mustFeed(t, l, "t"); !f.Updated.Equal(filled) {
		t.Errorf("Feed Updated = %v, want %v (the newest event's time)", f.Updated, filled)
	}
}

func testAppendManyFeeds(t *testing.T, l store.Log) {
	mustAppend(t, l, ev("a", "a1"))
	in := []eventfeed.Event{ev("a", "a2"), ev("b", "b1"), ev("a", "a3"), ev("c", "c1"), ev("b", "b2")}
	got := mustAppend(t, l, in...)
	want := []eventfeed.Event{withSeq(in[0], 2), withSeq(in[1], 1), withSeq(in[2], 3), withSeq(in[3], 1), withSeq(in[4], 2)}
	checkEvents(t, "Append", got, want)
	for _, tt := range []struct {
		feed string
		ids  []string
	}{
		{"a", []string{"a1", "a2", "a3"}},
		{"b", []string{"b1", "b2"}},
		{"c", []string{"c1"}},
	} {
		read := mustRead(t, l, tt.feed, 1, 10)
		var gotIDs []string
		for i, e := range read {
			gotIDs = append(gotIDs, e.ID)
			if e.Seq != uint64(i+1) {
				t.Errorf("feed %s: event %s has Seq %d, want %d", tt.feed, e.ID, e.Seq, i+1)
			}
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(tt.ids) {
			t.Errorf("feed %s: got IDs %v, want %v", tt.feed, gotIDs, tt.ids)
		}
		if f := mustFeed(t, l, tt.feed); f.Head != uint64(len(tt.ids)) {
			t.Errorf("feed %s: head %d, want %d", tt.feed, f.Head, len(tt.ids))
		}
	}
}

func testAppendNothing(t *testing.T, l store.Log) {
	got, err := l.Append(context.Background())
	if err != nil || len(got) != 0 {
		t.Errorf("Append() = %v, %v; want no events, nil", got, err)
	}
	if feeds, err := l.Feeds(context.Background()); err != nil || len(feeds) != 0 {
		t.Errorf("Feeds after an empty Append = %v, %v; want none", feeds, err)
	}
}

func testAppendCanceled(t *testing.T, l store.Log) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, ev("a", "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := l.Feed(context.Background(), "a"); !errors.Is(err, eventfeed.ErrFeedNotFound) {
		t.Errorf("Feed after a canceled Append = %v, want ErrFeedNotFound (nothing stored)", err)
	}
}

func testReplay(t *testing.T, l store.Log) {
	first := mustAppend(t, l, ev("r", "r1"), ev("r", "r2"))
	epoch := mustFeed(t, l, "r").Epoch

	// The same events again, Time left zero as in the first call: a retry.
	again := mustAppend(t, l, ev("r", "r1"), ev("r", "r2"))
	checkEvents(t, "replayed Append", again, first)
	for i := range again {
		if !again[i].Time.Equal(first[i].Time) {
			t.Errorf("replayed event %d: Time %v, want the stored %v", i, again[i].Time, first[i].Time)
		}
	}

	// With the stored time given explicitly, mixed with a new event, and a
	// new event given twice in one call.
	withTime := ev("r", "r1")
	withTime.Time = first[0].Time
	got := mustAppend(t, l, withTime, ev("r", "r3"), ev("r", "r3"))
	checkEvents(t, "mixed Append", got, []eventfeed.Event{first[0], withSeq(ev("r", "r3"), 3), withSeq(ev("r", "r3"), 3)})

	checkEvents(t, "Read", mustRead(t, l, "r", 1, 10), []eventfeed.Event{first[0], first[1], withSeq(ev("r", "r3"), 3)})
	f := mustFeed(t, l, "r")
	if f.Head != 3 || f.Epoch != epoch {
		t.Errorf("Feed = head %d epoch %q, want head 3 epoch %q", f.Head, f.Epoch, epoch)
	}
}

func testConflict(t *testing.T, l store.Log) {
	stored := mustAppend(t, l, ev("c", "c1"), ev("c", "c2"))
	other := func(f func(*eventfeed.Event)) eventfeed.Event {
		e := ev("c", "c1")
		f(&e)
		return e
	}
	tests := []struct {
		name   string
		events []eventfeed.Event
	}{
		{"data", []eventfeed.Event{other(func(e *eventfeed.Event) { e.Data = []byte(`{}`) })}},
		{"type", []eventfeed.Event{other(func(e *eventfeed.Event) { e.Type = "other" })}},
		{"subject", []eventfeed.Event{other(func(e *eventfeed.Event) { e.Subject = "" })}},
		{"content type", []eventfeed.Event{other(func(e *eventfeed.Event) { e.ContentType = "text/plain" })}},
		{"time", []eventfeed.Event{other(func(e *eventfeed.Event) { e.Time = stored[0].Time.Add(eventfeed.TimePrecision) })}},
		{"other feed", []eventfeed.Event{other(func(e *eventfeed.Event) { e.Feed = "d" })}},
		{"after new events", []eventfeed.Event{ev("c", "c3"), ev("d", "d1"), other(func(e *eventfeed.Event) { e.Data = nil })}},
		{"twice in the call", []eventfeed.Event{ev("c", "c3"), other(func(e *eventfeed.Event) { e.ID = "c3"; e.Data = []byte("1") })}},
	}
	for _, tt := range tests {
		if _, err := l.Append(context.Background(), tt.events...); !errors.Is(err, eventfeed.ErrConflict) {
			t.Errorf("%s: Append = %v, want ErrConflict", tt.name, err)
		}
	}
	checkEvents(t, "Read after conflicts", mustRead(t, l, "c", 1, 10), stored)
	if _, err := l.Feed(context.Background(), "d"); !errors.Is(err, eventfeed.ErrFeedNotFound) {
		t.Errorf("Feed(d) after conflicting calls = %v, want ErrFeedNotFound (nothing stored)", err)
	}
	// The log goes on gaplessly after refused calls.
	got := mustAppend(t, l, ev("c", "c3"))
	checkEvents(t, "Append after conflicts", got, []eventfeed.Event{withSeq(ev("c", "c3"), 3)})
}

func testInvalid(t *testing.T, l store.Log) {
	mustAppend(t, l, ev("ok", "ok1"))
	bad := func(f func(*eventfeed.Event)) eventfeed.Event {
		e := ev("ok", "bad")
		f(&e)
		return e
	}
	tests := []struct {
		name string
		ev   eventfeed.Event
		want error
	}{
		{"no ID", bad(func(e *eventfeed.Event) { e.ID = "" }), eventfeed.ErrInvalidEvent},
		{"no type", bad(func(e *eventfeed.Event) { e.Type = "" }), eventfeed.ErrInvalidEvent},
		{"long ID", bad(func(e *eventfeed.Event) { e.ID = strings.Repeat("x", eventfeed.MaxIDLen+1) }), eventfeed.ErrInvalidEvent},
		{"control character", bad(func(e *eventfeed.Event) { e.Subject = "a\x00b" }), eventfeed.ErrInvalidEvent},
		{"invalid UTF-8", bad(func(e *eventfeed.Event) { e.Type = "a\xffb" }), eventfeed.ErrInvalidEvent},
		{"no feed", bad(func(e *eventfeed.Event) { e.Feed = "" }), eventfeed.ErrInvalidFeedName},
		{"upper-case feed", bad(func(e *eventfeed.Event) { e.Feed = "Orders" }), eventfeed.ErrInvalidFeedName},
		{"slash in feed", bad(func(e *eventfeed.Event) { e.Feed = "a/b" }), eventfeed.ErrInvalidFeedName},
		{"dot-dot feed", bad(func(e *eventfeed.Event) { e.Feed = ".." }), eventfeed.ErrInvalidFeedName},
	}
	for _, tt := range tests {
		// A valid event in a new feed before the bad one: neither is stored.
		if _, err := l.Append(context.Background(), ev("new", "new1"), tt.ev); !errors.Is(err, tt.want) {
			t.Errorf("%s: Append = %v, want %v", tt.name, err, tt.want)
		}
	}
	feeds, err := l.Feeds(context.Background())
	if err != nil || len(feeds) != 1 || feeds[0].Name != "ok" || feeds[0].Head != 1 {
		t.Errorf("Feeds after invalid appends = %+v, %v; want only ok with head 1", feeds, err)
	}
}

func testRead(t *testing.T, l store.Log) {
	var all []eventfeed.Event
	for i := range 10 {
		all = append(all, ev("r", fmt.Sprintf("r%d", i+1)))
	}
	all = mustAppend(t, l, all...)
	tests := []struct {
		from, to uint64
		want     []eventfeed.Event
	}{
		{1, 10, all},
		{3, 5, all[2:5]},
		{5, 5, all[4:5]},
		{0, 2, all[:2]},
		{8, 20, all[7:]},
		{1, math.MaxUint64, all},
		{10, 10, all[9:]},
		{11, 20, nil},
		{6, 5, nil},
		{math.MaxUint64, math.MaxUint64, nil},
	}
	for _, tt := range tests {
		checkEvents(t, fmt.Sprintf("Read(%d, %d)", tt.from, tt.to), mustRead(t, l, "r", tt.from, tt.to), tt.want)
	}
}

func testReadUnknownFeed(t *testing.T, l store.Log) {
	mustAppend(t, l, ev("known", "k1"))
	for _, name := range []string{"unknown", "Known", ""} {
		if got, err := l.Read(context.Background(), name, 1, 10); !errors.Is(err, eventfeed.ErrFeedNotFound) {
			t.Errorf("Read(%q) = %v, %v; want ErrFeedNotFound", name, ids(got), err)
		}
		if got, err := l.Feed(context.Background(), name); !errors.Is(err, eventfeed.ErrFeedNotFound) {
			t.Errorf("Feed(%q) = %+v, %v; want ErrFeedNotFound", name, got, err)
		}
	}
}

func testFeed(t *testing.T, l store.Log) {
	got := mustAppend(t, l, ev("f", "f1"))
	f := mustFeed(t, l, "f")
	if f.Name != "f" || f.Head != 1 || f.Epoch == "" || f.PageSize != store.DefaultPageSize || !f.Updated.Equal(got[0].Time) {
		t.Errorf("Feed = %+v, want name f, head 1, an epoch, page size %d, updated %v", f, store.DefaultPageSize, got[0].Time)
	}
	var batch []eventfeed.Event
	for i := range 5 {
		batch = append(batch, ev("f", fmt.Sprintf("f%d", i+2)))
	}
	got = mustAppend(t, l, batch...)
	g := mustFeed(t, l, "f")
	if g.Head != 6 || g.Epoch != f.Epoch || g.PageSize != f.PageSize || !g.Updated.Equal(got[4].Time) {
		t.Errorf("Feed after appends = %+v, want head 6, epoch %q, page size %d, updated %v", g, f.Epoch, f.PageSize, got[4].Time)
	}
	if len(f.Epoch) > 64 || strings.ContainsAny(f.Epoch, "/?#% ") {
		t.Errorf("Feed epoch %q, want a short token fit for a URL path", f.Epoch)
	}
}

func testFeeds(t *testing.T, l store.Log) {
	if feeds, err := l.Feeds(context.Background()); err != nil || len(feeds) != 0 {
		t.Fatalf("Feeds of an empty log = %+v, %v; want none", feeds, err)
	}
	mustAppend(t, l, ev("c", "1"), ev("a", "2"), ev("b.x", "3"))
	mustAppend(t, l, ev("a-1", "4"), ev("a", "5"), ev("_", "6"))
	feeds, err := l.Feeds(context.Background())
	if err != nil {
		t.Fatalf("Feeds: %v", err)
	}
	var got []string
	for _, f := range feeds {
		got = append(got, fmt.Sprintf("%s:%d", f.Name, f.Head))
		if f.Epoch == "" || f.PageSize != store.DefaultPageSize {
			t.Errorf("Feeds: %+v, want an epoch and page size %d", f, store.DefaultPageSize)
		}
	}
	if want := []string{"_:1", "a:2", "a-1:1", "b.x:1", "c:1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Feeds = %v, want %v", got, want)
	}
}

func testConcurrentAppends(t *testing.T, l store.Log) {
	const writers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every writer appends to "x"; odd writers put every
				// third event in "y" instead.
				e := ev("x", fmt.Sprintf("w%d-%d", w, i))
				if w%2 == 1 && i%3 == 0 {
					e.Feed = "y"
				}
				if _, err := l.Append(context.Background(), e); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Append: %v", err)
	}
	seen := make(map[string]bool)
	for _, feed := range []string{"x", "y"} {
		events := mustRead(t, l, feed, 1, math.MaxUint64)
		last := make(map[int]int) // writer → last i seen
		for i, e := range events {
			if e.Seq != uint64(i+1) {
				t.Fatalf("feed %s: event %d has Seq %d, want %d (gapless)", feed, i, e.Seq, i+1)
			}
			if seen[e.ID] {
				t.Errorf("event %s stored twice", e.ID)
			}
			seen[e.ID] = true
			var w, n int
			fmt.Sscanf(e.ID, "w%d-%d", &w, &n)
			if p, ok := last[w]; ok && n <= p {
				t.Errorf("feed %s: writer %d's event %d after its event %d", feed, w, n, p)
			}
			last[w] = n
		}
		if f := mustFeed(t, l, feed); f.Head != uint64(len(events)) {
			t.Errorf("feed %s: head %d, want %d", feed, f.Head, len(events))
		}
	}
	if len(seen) != writers*each {
		t.Errorf("got %d events, want %d", len(seen), writers*each)
	}
}

func testWaitPassed(t *testing.T, l store.Log) {
	mustAppend(t, l, ev("w", "1"), ev("w", "2"), ev("w", "3"))
	for _, after := range []uint64{0, 1, 2} {
		f, err := l.Wait(context.Background(), "w", after)
		if err != nil || f.Head != 3 || f.Name != "w" || f.Epoch == "" {
			t.Errorf("Wait(after %d) = %+v, %v; want feed w at head 3 at once", after, f, err)
		}
	}
}

type waitResult struct {
	f   store.Feed
	err error
}

// startWait calls Wait in a goroutine and returns where its result will be.
func startWait(ctx context.Context, l store.Log, feed string, after uint64) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		f, err := l.Wait(ctx, feed, after)
		ch <- waitResult{f, err}
	}()
	return ch
}

// notYet fails t if ch delivered a result: nothing was appended yet.
func notYet(t *testing.T, ch <-chan waitResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Wait returned %+v, %v before the head passed", r.f, r.err)
	case <-time.After(20 * time.Millisecond):
	}
}

func await(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(hang):
		t.Fatalf("Wait did not return within %v", hang)
		return waitResult{}
	}
}

func testWaitWakes(t *testing.T, l store.Log) {
	mustAppend(t, l, ev("w", "1"))
	ch := startWait(context.Background(), l, "w", 1)
	notYet(t, ch)
	mustAppend(t, l, ev("other", "o1")) // another feed: no wake-up for w
	notYet(t, ch)
	mustAppend(t, l, ev("w", "2"))
	if r := await(t, ch); r.err != nil || r.f.Head != 2 || r.f.Name != "w" {
		t.Errorf("Wait = %+v, %v; want feed w at head 2", r.f, r.err)
	}
}

func testWaitNewFeed(t *testing.T, l store.Log) {
	ch := startWait(context.Background(), l, "later", 0)
	notYet(t, ch)
	mustAppend(t, l, ev("later", "1"))
	if r := await(t, ch); r.err != nil || r.f.Head != 1 || r.f.Epoch == "" {
		t.Errorf("Wait on a feed without events = %+v, %v; want head 1 once its first event is stored", r.f, r.err)
	}
}

func testWaitCanceled(t *testing.T, l store.Log) {
	mustAppend(t, l, ev("w", "1"))
	for _, feed := range []string{"w", "empty"} {
		ctx, cancel := context.WithCancel(context.Background())
		ch := startWait(ctx, l, feed, 1)
		notYet(t, ch)
		cancel()
		if r := await(t, ch); !errors.Is(r.err, context.Canceled) {
			t.Errorf("Wait(%q) after cancel = %+v, %v; want context.Canceled", feed, r.f, r.err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := l.Wait(ctx, "w", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past its deadline = %v, want context.DeadlineExceeded", err)
	}
}

func testWaitInvalidFeed(t *testing.T, l store.Log) {
	ch := startWait(context.Background(), l, "Not/A/Feed", 0)
	if r := await(t, ch); !errors.Is(r.err, eventfeed.ErrInvalidFeedName) {
		t.Errorf("Wait on an invalid feed name = %+v, %v; want ErrInvalidFeedName at once", r.f, r.err)
	}
}

func testWaitMany(t *testing.T, l store.Log) {
	mustAppend(t, l, ev("m", "1"))
	const n = 200
	chans := make([]<-chan waitResult, n)
	for i := range chans {
		chans[i] = startWait(context.Background(), l, "m", 1)
	}
	notYet(t, chans[n-1])
	mustAppend(t, l, ev("m", "2"))
	for i, ch := range chans {
		if r := await(t, ch); r.err != nil || r.f.Head != 2 {
			t.Fatalf("waiter %d: Wait = %+v, %v; want head 2", i, r.f, r.err)
		}
	}
}

func testData(t *testing.T, l store.Log) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	large := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range large {
		large[i] = byte(rng.Uint32())
	}
	tests := []eventfeed.Event{
		{ID: "json", Type: "t", Data: []byte(`{"a":"<b>&amp;</b>","c":[1,2]}`)},
		{ID: "binary", Type: "t", ContentType: "application/octet-stream", Data: binary},
		{ID: "nil", Type: "t"},
		{ID: "empty", Type: "t", ContentType: "text/plain", Data: []byte{}},
		{ID: "large", Type: "t", ContentType: "application/octet-stream", Data: large},
		{ID: "urn:uuid:0b8e2a8e-1b0e-4bde-a1c2-5d2e7ad7d9f1", Type: "ünïcode.type", Subject: "subject with spaces, ✓", ContentType: "application/xml; charset=utf-8", Data: []byte("<a>ü</a>")},
		{ID: strings.Repeat("i", eventfeed.MaxIDLen), Type: strings.Repeat("t", eventfeed.MaxTypeLen), Subject: strings.Repeat("s", eventfeed.MaxSubjectLen)},
	}
	for i := range tests {
		tests[i].Feed = "data"
	}
	got := mustAppend(t, l, tests...)
	read := mustRead(t, l, "data", 1, uint64(len(tests)))
	for i := range tests {
		tests[i].Seq = uint64(i + 1)
	}
	checkEvents(t, "Append", got, tests)
	checkEvents(t, "Read", read, tests)

	// The log keeps its own copy: changing the caller's buffer afterwards
	// changes nothing stored.
	binary[0] = 0xff
	if again := mustRead(t, l, "data", 2, 2); len(again) != 1 || again[0].Data[0] != 0 {
		t.Errorf("Read after the caller changed its buffer: stored Data changed")
	}
}
