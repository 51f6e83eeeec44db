package memory

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/notify"
	"github.com/eventfeed/eventfeed/store"
)

// Options configures a Log. The zero value is ready to use.
type Options struct {
	// PageSize is the page size given to a feed when its first event is
	// stored. Zero or less means store.DefaultPageSize; more than
	// store.MaxPageSize means store.MaxPageSize.
	PageSize int
}

// Log is a store.Log kept in memory. Its zero value is not usable; call
// NewLog.
type Log struct {
	pageSize int
	closed   atomic.Bool
	heads    notify.Heads

	mu    sync.RWMutex
	feeds map[string][]eventfeed.Event // feed name → events, feeds[f][i].Seq == i+1
	ids   map[string]position          // event ID → where it is stored
}

type position struct {
	feed string
	seq  uint64
}

var _ store.Log = (*Log)(nil)

// NewLog returns an empty Log.
func NewLog(opt Options) *Log {
	size := opt.PageSize
	switch {
	case size <= 0:
		size = store.DefaultPageSize
	case size > store.MaxPageSize:
		size = store.MaxPageSize
	}
	return &Log{
		pageSize: size,
		feeds:    make(map[string][]eventfeed.Event),
		ids:      make(map[string]position),
	}
}

// Append stores events as store.Log.Append describes: all of them or, on
// error, none.
func (l *Log) Append(ctx context.Context, events ...eventfeed.Event) ([]eventfeed.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return nil, fmt.Errorf("memory: append event %d: %w", i, err)
		}
	}
	if len(events) == 0 {
		return nil, nil
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	now := time.Now().UTC()
	out := make([]eventfeed.Event, len(events))
	var (
		fresh   []int             // indexes into out of the events to store
		inBatch map[string]int    // ID → index into out of its first occurrence
		next    map[string]uint64 // feed → Seq to give its next event
	)
	for i := range events {
		e := &events[i]
		if pos, ok := l.ids[e.ID]; ok {
			stored := &l.feeds[pos.feed][pos.seq-1]
			if !e.SameContent(stored) {
				return nil, fmt.Errorf("memory: append %s: %w (stored in %s at %d)", e.ID, eventfeed.ErrConflict, pos.feed, pos.seq)
			}
			out[i] = clone(*stored)
			continue
		}
		if j, ok := inBatch[e.ID]; ok {
			if !e.SameContent(&out[j]) {
				return nil, fmt.Errorf("memory: append %s: %w (given twice with different content)", e.ID, eventfeed.ErrConflict)
			}
			out[i] = clone(out[j])
			continue
		}
		if inBatch == nil {
			inBatch = make(map[string]int)
			next = make(map[string]uint64)
		}
		inBatch[e.ID] = i
		seq, ok := next[e.Feed]
		if !ok {
			seq = uint64(len(l.feeds[e.Feed])) + 1
		}
		next[e.Feed] = seq + 1
		ev := clone(*e)
		ev.Seq = seq
		if ev.Time.IsZero() {
			ev.Time = now
		}
		ev.Time = ev.Time.UTC().Truncate(eventfeed.TimePrecision)
		out[i] = ev
		fresh = append(fresh, i)
	}

	// Nothing can fail from here on: store what is new, then publish heads.
	for _, i := range fresh {
		ev := out[i]
		l.feeds[ev.Feed] = append(l.feeds[ev.Feed], clone(ev))
		l.ids[ev.ID] = position{ev.Feed, ev.Seq}
	}
	for name := range next {
		evs := l.feeds[name]
		f, ok := l.heads.Get(name)
		if !ok {
			f = store.Feed{Name: name, Epoch: newEpoch(), PageSize: l.pageSize}
		}
		f.Head = uint64(len(evs))
		f.Updated = evs[len(evs)-1].Time
		l.heads.Set(f)
	}
	return out, nil
}

// Read returns the events of feed with from <= Seq <= to.
func (l *Log) Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	evs, ok := l.feeds[feed]
	if !ok {
		return nil, fmt.Errorf("memory: read %q: %w", feed, eventfeed.ErrFeedNotFound)
	}
	from = max(from, 1)
	to = min(to, uint64(len(evs)))
	if from > to {
		return nil, nil
	}
	out := make([]eventfeed.Event, 0, to-from+1)
	for _, ev := range evs[from-1 : to] {
		out = append(out, clone(ev))
	}
	return out, nil
}

// Feed describes the feed called name.
func (l *Log) Feed(ctx context.Context, name string) (store.Feed, error) {
	if l.closed.Load() {
		return store.Feed{}, eventfeed.ErrClosed
	}
	f, ok := l.heads.Get(name)
	if !ok {
		return store.Feed{}, fmt.Errorf("memory: feed %q: %w", name, eventfeed.ErrFeedNotFound)
	}
	return f, nil
}

// Feeds lists every feed, sorted by name.
func (l *Log) Feeds(ctx context.Context) ([]store.Feed, error) {
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	return l.heads.List(), nil
}

// Wait blocks until the head of feed passes after, or ctx is done, or the
// Log is closed (eventfeed.ErrClosed). An invalid feed name is an error at
// once: no event could ever be appended to it.
func (l *Log) Wait(ctx context.Context, feed string, after uint64) (store.Feed, error) {
	if err := eventfeed.ValidateFeedName(feed); err != nil {
		return store.Feed{}, fmt.Errorf("memory: wait: %w", err)
	}
	return l.heads.Wait(ctx, feed, after)
}

// Close releases the Log's memory and wakes every Wait with
// eventfeed.ErrClosed; later calls return eventfeed.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return nil
	}
	l.heads.Close()
	l.feeds, l.ids = nil, nil
	return nil
}

func clone(e eventfeed.Event) eventfeed.Event {
	e.Data = bytes.Clone(e.Data)
	return e
}

// newEpoch returns a fresh random epoch: 8 bytes, lower-case hex.
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}
