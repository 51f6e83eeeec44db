package notify

import (
	"context"
	"slices"
	"sync"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

// Signal wakes every goroutine waiting on it at once. The zero value is
// ready to use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// C returns a channel that is closed by the next Broadcast.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Broadcast wakes every goroutine waiting on a channel returned by C.
func (s *Signal) Broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// Heads holds the current store.Feed of every feed of a log. The zero value
// is an empty, usable table; every method is safe for concurrent use.
type Heads struct {
	mu     sync.RWMutex
	feeds  map[string]*head
	names  []string // sorted
	closed bool
	// added is broadcast when a feed is added and on Close: waiters on a
	// feed that does not exist yet wait on it, so that a stream of waits
	// for names that never get events leaves nothing behind.
	added Signal
}

type head struct {
	feed  store.Feed
	moved Signal
}

// Get returns the feed called name, if it has any events.
func (h *Heads) Get(name string) (store.Feed, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if hd := h.feeds[name]; hd != nil {
		return hd.feed, true
	}
	return store.Feed{}, false
}

// List returns every feed, sorted by name.
func (h *Heads) List() []store.Feed {
	h.mu.RLock()
	defer h.mu.RUnlock()
	list := make([]store.Feed, len(h.names))
	for i, name := range h.names {
		list[i] = h.feeds[name].feed
	}
	return list
}

// Set records f as the current state of the feed f.Name and wakes its
// waiters if its head moved. A head older than the one already known in
// the same epoch is ignored, so that a reload that raced with an append
// cannot move a head backwards; a feed in another epoch (a log wiped and
// rebuilt) replaces the old one whatever its head.
func (h *Heads) Set(f store.Feed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	hd := h.feeds[f.Name]
	if hd == nil {
		if h.feeds == nil {
			h.feeds = make(map[string]*head)
		}
		h.feeds[f.Name] = &head{feed: f}
		i, _ := slices.BinarySearch(h.names, f.Name)
		h.names = slices.Insert(h.names, i, f.Name)
		h.added.Broadcast()
		return
	}
	if hd.feed.Epoch == f.Epoch && f.Head <= hd.feed.Head {
		return
	}
	hd.feed = f
	hd.moved.Broadcast()
}

// Wait blocks until the head of the feed called name passes after and
// returns that feed; or until ctx is done, returning ctx.Err(); or until
// Close, returning eventfeed.ErrClosed.
func (h *Heads) Wait(ctx context.Context, name string, after uint64) (store.Feed, error) {
	for {
		// The channel is taken under the same lock as the head is read, so
		// a Set after the read closes a channel that this waiter holds.
		h.mu.RLock()
		hd, closed := h.feeds[name], h.closed
		var (
			f    store.Feed
			wake <-chan struct{}
		)
		if hd == nil {
			wake = h.added.C()
		} else {
			f, wake = hd.feed, hd.moved.C()
		}
		h.mu.RUnlock()
		switch {
		case closed:
			return store.Feed{}, eventfeed.ErrClosed
		case hd != nil && f.Head > after:
			return f, nil
		}
		if err := ctx.Err(); err != nil {
			return store.Feed{}, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return store.Feed{}, ctx.Err()
		}
	}
}

// Close wakes every waiter with eventfeed.ErrClosed and makes later Waits
// return it at once. Set does nothing after Close.
func (h *Heads) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	h.added.Broadcast()
	for _, hd := range h.feeds {
		hd.moved.Broadcast()
	}
}
