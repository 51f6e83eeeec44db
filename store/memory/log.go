package memory

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/notify"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
)

// Options configures a Log. The zero value is ready to use.
type Options struct {
	// PageSize is the page size given to a feed when its first event is
	// stored. Zero or less means store.DefaultPageSize; more than
	// store.MaxPageSize means store.MaxPageSize.
	PageSize int
	// Encrypt makes the feeds this Log creates encrypted (see
	// store.Keyring).
	Encrypt bool
}

// Log is a store.Log kept in memory. Its zero value is not usable; call
// NewLog.
type Log struct {
	pageSize int
	encrypt  bool
	closed   atomic.Bool
	heads    notify.Heads

	mu    sync.RWMutex
	feeds map[string][]eventfeed.Event // feed name → events, feeds[f][i].Seq == i+1
	ids   map[string]position          // event ID → where it is stored
	keys  map[string]*subjectKey       // seal.KeyAAD(feed, subject) → its key
}

// subjectKey is a subject's data key, or its tombstone once erased.
type subjectKey struct {
	secret []byte
	aead   cipher.AEAD
	erased position // the tombstone, once erased (secret and aead nil)
}

type position struct {
	feed string
	seq  uint64
}

var _ store.Keyring = (*Log)(nil)

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
		encrypt:  opt.Encrypt,
		feeds:    make(map[string][]eventfeed.Event),
		ids:      make(map[string]position),
		keys:     make(map[string]*subjectKey),
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
		if err := seal.CheckType(&events[i]); err != nil {
			return nil, fmt.Errorf("memory: append event %d: %w", i, err)
		}
	}
	if len(events) == 0 {
		return nil, nil
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	return l.append(events, nil)
}

// append appends events with l.mu held. newKeys, when not nil, holds the
// keys made in this call, and is where they are left for the caller.
func (l *Log) append(events []eventfeed.Event, newKeys map[string]*subjectKey) ([]eventfeed.Event, error) {
	if l.closed.Load() {
		return nil, eventfeed.ErrClosed
	}
	now := time.Now().UTC()
	encrypted := make(map[string]bool) // feed → whether it is encrypted
	isEncrypted := func(feed string) bool {
		enc, ok := encrypted[feed]
		if !ok {
			if f, exists := l.heads.Get(feed); exists {
				enc = f.Encrypted
			} else {
				enc = l.encrypt
			}
			encrypted[feed] = enc
		}
		return enc
	}
	// key returns the key of e's subject, making it when it has none.
	key := func(e *eventfeed.Event) (*subjectKey, error) {
		k := seal.KeyAAD(e.Feed, e.Subject)
		if sk, ok := l.keys[k]; ok {
			if sk.aead == nil {
				return nil, fmt.Errorf("memory: append %s: subject %q of feed %s: %w", e.ID, e.Subject, e.Feed, eventfeed.ErrErased)
			}
			return sk, nil
		}
		if sk, ok := newKeys[k]; ok {
			return sk, nil
		}
		secret := seal.NewKey()
		aead, err := seal.NewAEAD(secret)
		if err != nil {
			return nil, err
		}
		if newKeys == nil {
			newKeys = make(map[string]*subjectKey)
		}
		sk := &subjectKey{secret: secret, aead: aead}
		newKeys[k] = sk
		return sk, nil
	}
	out := make([]eventfeed.Event, len(events))
	var (
		fresh   []int             // indexes into out of the events to store
		inBatch map[string]int    // ID → index into out of its first occurrence
		next    map[string]uint64 // feed → Seq to give its next event
	)
	for i := range events {
		e := &events[i]
		if isEncrypted(e.Feed) != l.encrypt {
			if l.encrypt {
				return nil, fmt.Errorf("memory: append %s: feed %s is not encrypted, and this Log encrypts: %w", e.ID, e.Feed, eventfeed.ErrEncryption)
			}
			return nil, fmt.Errorf("memory: append %s: feed %s is encrypted, and this Log does not encrypt: %w", e.ID, e.Feed, eventfeed.ErrEncryption)
		}
		var sk *subjectKey
		if l.encrypt && e.Subject != "" && e.Type != eventfeed.TypeErased {
			var err error
			if sk, err = key(e); err != nil {
				return nil, err
			}
		}
		if pos, ok := l.ids[e.ID]; ok {
			stored := &l.feeds[pos.feed][pos.seq-1]
			same := e.SameContent(stored)
			if sk != nil {
				same = stored.ContentType == eventfeed.EncryptedContentType && seal.SameContent(sk.aead, e, stored)
			}
			if !same {
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
		if sk != nil {
			ev.Data, ev.ContentType = seal.Seal(sk.aead, &ev), eventfeed.EncryptedContentType
		}
		out[i] = ev
		fresh = append(fresh, i)
	}

	// Nothing can fail from here on: store what is new, then publish heads.
	for k, sk := range newKeys {
		l.keys[k] = sk
	}
	for _, i := range fresh {
		ev := out[i]
		l.feeds[ev.Feed] = append(l.feeds[ev.Feed], clone(ev))
		l.ids[ev.ID] = position{ev.Feed, ev.Seq}
	}
	for name := range next {
		evs := l.feeds[name]
		f, ok := l.heads.Get(name)
		if !ok {
			f = store.Feed{Name: name, Epoch: newEpoch(), PageSize: l.pageSize, Encrypted: l.encrypt}
		}
		f.Head = uint64(len(evs))
		f.Updated = evs[len(evs)-1].Time
		l.heads.Set(f)
	}
	return out, nil
}

// Key returns the data key of subject in feed, as store.Keyring.Key
// describes.
func (l *Log) Key(ctx context.Context, feed, subject string) (store.Key, error) {
	if err := ctx.Err(); err != nil {
		return store.Key{}, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed.Load() {
		return store.Key{}, eventfeed.ErrClosed
	}
	sk, ok := l.keys[seal.KeyAAD(feed, subject)]
	switch {
	case !ok:
		return store.Key{}, fmt.Errorf("memory: key of %q in feed %s: %w", subject, feed, store.ErrKeyNotFound)
	case sk.aead == nil:
		return store.Key{}, fmt.Errorf("memory: key of %q in feed %s: %w", subject, feed, eventfeed.ErrErased)
	}
	return store.Key{Feed: feed, Subject: subject, Secret: bytes.Clone(sk.secret)}, nil
}

// Erase destroys the data key of subject in feed and appends its
// tombstone, as store.Keyring.Erase describes.
func (l *Log) Erase(ctx context.Context, feed, subject string) (eventfeed.Event, error) {
	if err := ctx.Err(); err != nil {
		return eventfeed.Event{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return eventfeed.Event{}, eventfeed.ErrClosed
	}
	f, ok := l.heads.Get(feed)
	switch {
	case !ok:
		return eventfeed.Event{}, fmt.Errorf("memory: erase %q: %w", feed, eventfeed.ErrFeedNotFound)
	case !f.Encrypted:
		return eventfeed.Event{}, fmt.Errorf("memory: erase %q from feed %s: the feed is not encrypted: %w", subject, feed, eventfeed.ErrEncryption)
	}
	k := seal.KeyAAD(feed, subject)
	sk, ok := l.keys[k]
	switch {
	case !ok:
		return eventfeed.Event{}, fmt.Errorf("memory: erase %q from feed %s: %w", subject, feed, store.ErrKeyNotFound)
	case sk.aead == nil:
		return clone(l.feeds[sk.erased.feed][sk.erased.seq-1]), nil
	}
	out, err := l.append([]eventfeed.Event{seal.Tombstone(feed, subject)}, nil)
	if err != nil {
		return eventfeed.Event{}, err
	}
	clear(sk.secret)
	*sk = subjectKey{erased: position{feed, out[0].Seq}}
	return out[0], nil
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
	l.feeds, l.ids, l.keys = nil, nil, nil
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
