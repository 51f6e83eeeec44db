package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/eventfeed/eventfeed"
)

// DefaultPageSize is the page size a Log gives a feed when its first event
// is stored and the Log was not configured with another.
const DefaultPageSize = 100

// MaxPageSize is the largest page size a Log accepts.
const MaxPageSize = 10000

// Feed describes one feed of a Log.
type Feed struct {
	Name string
	// Epoch is a short random token made when the feed's first event was
	// stored. A log that is wiped and rebuilt gets a new epoch, so URLs that
	// embed it never name different content.
	Epoch string
	// PageSize is the number of entries per page, fixed with the epoch.
	PageSize int
	// Head is the Seq of the newest event.
	Head uint64
	// Updated is the Time of the newest event.
	Updated time.Time
	// Encrypted reports whether the feed's events are sealed under a key
	// per subject (see Keyring), fixed with the epoch.
	Encrypted bool
}

// A Log stores the events of named feeds, each in a gapless sequence that
// starts at 1. Every method is safe for concurrent use.
type Log interface {
	// Append stores events, which may name different feeds, in one
	// transaction, assigning each the next Seq of its feed and filling in
	// Time (now) when it is zero. It returns the stored events in the order
	// given. An event whose ID is already stored with the same content (see
	// eventfeed.Event.SameContent) is not stored again: the stored one is
	// returned in its place. An ID stored with other content fails the whole
	// call with eventfeed.ErrConflict; invalid events fail it with
	// eventfeed.ErrInvalidEvent or eventfeed.ErrInvalidFeedName. On error
	// nothing is stored.
	Append(ctx context.Context, events ...eventfeed.Event) ([]eventfeed.Event, error)

	// Read returns the events of feed with from <= Seq <= to, in order.
	// A range past the head returns what exists (possibly nothing).
	// An unknown feed is eventfeed.ErrFeedNotFound.
	Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error)

	// Feed describes feed, with its current head. It answers from memory
	// (it is called on every request a publisher serves); an unknown feed
	// is eventfeed.ErrFeedNotFound.
	Feed(ctx context.Context, name string) (Feed, error)

	// Feeds lists every feed, sorted by name.
	Feeds(ctx context.Context) ([]Feed, error)

	// Wait blocks until the head of feed passes after, then returns the
	// feed as Feed would; or until ctx is done, returning ctx.Err(). Appends
	// made by other processes on the same storage count too. Waiting on a
	// feed that has no events yet is allowed.
	Wait(ctx context.Context, feed string, after uint64) (Feed, error)
}

// A Keyring is a Log that can encrypt feeds for crypto-shredding: a Log
// opened to encrypt gives each new feed a key per subject, made on the
// subject's first event and kept in the Log's key table, and stores each
// event that has a Subject with its Data sealed under that key
// (ContentType eventfeed.EncryptedContentType, see package seal's format
// in the wire contract). Events without a Subject are stored in the
// clear. Read returns events as stored, sealed.
//
// Appending to an encrypted feed through a Log that does not encrypt, or
// the reverse, fails with eventfeed.ErrEncryption; appending for an erased
// subject fails with eventfeed.ErrErased. Append's idempotency compares
// the plaintext: a retried append of the same event is no conflict,
// although its ciphertext would differ.
type Keyring interface {
	Log

	// Key returns the data key of subject in feed: ErrKeyNotFound when
	// the feed has no key for it (it is unknown, not encrypted, or the
	// subject has no event), eventfeed.ErrErased once it was erased.
	Key(ctx context.Context, feed, subject string) (Key, error)

	// Erase destroys the data key of subject in feed and appends, in the
	// same transaction, a tombstone event (Type eventfeed.TypeErased, the
	// Subject, no Data) so that consumers remove what they hold of it. It
	// returns the tombstone. Erasing an erased subject again returns the
	// first tombstone and appends nothing. A feed that is not encrypted is
	// eventfeed.ErrEncryption; a subject without a key is ErrKeyNotFound
	// (nothing is appended).
	Erase(ctx context.Context, feed, subject string) (eventfeed.Event, error)
}

// Key is the data key of one subject of an encrypted feed.
type Key struct {
	Feed, Subject string
	// Secret is the AES-256 key (32 bytes). Keep it out of logs.
	Secret []byte
}

// ErrKeyNotFound reports a subject that has no data key in a feed.
var ErrKeyNotFound = errors.New("store: no key for this subject")

// Checkpoint is how far a consumer has read one source (a feed URL).
type Checkpoint struct {
	// Source identifies the feed being followed: its subscription URL.
	Source string
	// Page is the URL of the page holding the last applied entry.
	Page string
	// LastID is the atom:id of the last applied entry.
	LastID string
	// Seq is the last applied entry's seq, 0 when the feed carries none.
	Seq uint64
	// Epoch is the publisher's epoch when known, "" otherwise.
	Epoch string
	// Order is the order of the feed's entries within a page, once a
	// consumer has learned it; OrderUnknown before.
	Order Order
	// Recent holds the IDs of the entries applied last, oldest first, for
	// feeds without seq: a consumer drops an entry whose ID it holds.
	// The consumer chooses how many it keeps; the store keeps them as
	// given, in the same transaction as the events.
	Recent []string
	// Version counts the commits of the checkpoint: 0 for a source never
	// applied. Apply and Park take the Version of the checkpoint they
	// replace (the one Checkpoint returned) and commit only while the
	// stored checkpoint still has it; the stored checkpoint then has
	// Version+1. Another Version is ErrCheckpointMoved.
	Version uint64
	// Updated is when the checkpoint was last committed.
	Updated time.Time
}

// IsZero reports whether c is the checkpoint of a source never read.
func (c Checkpoint) IsZero() bool { return c.Page == "" && c.LastID == "" }

// Equal reports whether c and d are the same checkpoint, Updated aside.
func (c Checkpoint) Equal(d Checkpoint) bool {
	return c.Source == d.Source && c.Page == d.Page && c.LastID == d.LastID && c.Seq == d.Seq &&
		c.Epoch == d.Epoch && c.Order == d.Order && c.Version == d.Version && slices.Equal(c.Recent, d.Recent)
}

// Order is the order of a feed's entries within its documents.
type Order int8

const (
	OrderUnknown     Order = 0
	OrderOldestFirst Order = 1
	OrderNewestFirst Order = 2
)

func (o Order) String() string {
	switch o {
	case OrderOldestFirst:
		return "oldest-first"
	case OrderNewestFirst:
		return "newest-first"
	}
	return "unknown"
}

// ErrCheckpointMoved reports an Apply or Park whose checkpoint's Version is
// not the stored one: another consumer committed for the same source since
// this one read the checkpoint. Nothing of the call was committed. Two
// consumers that follow one source into one replica would apply its
// events twice; this error stops the second.
var ErrCheckpointMoved = errors.New("store: checkpoint moved by another consumer")

// A Replica is a consumer's local store: it applies events and commits its
// checkpoint in the same transaction, so that after a crash at any point
// every event has been applied exactly once.
type Replica interface {
	// Checkpoint returns the checkpoint of source, or a zero Checkpoint
	// (with Source set) when source was never applied.
	Checkpoint(ctx context.Context, source string) (Checkpoint, error)

	// Apply applies events in order and stores cp (whose Source names the
	// source) in one transaction. When applying an event fails the
	// transaction is rolled back and the error is an *ApplyError naming the
	// event. An empty events slice only moves the checkpoint. cp.Version
	// must be the Version of the stored checkpoint (0 when there is none),
	// else nothing is applied and the error wraps ErrCheckpointMoved; the
	// checkpoint stored has Version cp.Version+1.
	Apply(ctx context.Context, cp Checkpoint, events []eventfeed.Event) error

	// Park records ev as a dead letter of cp.Source with reason, without
	// applying it, and stores cp, in one transaction. A consumer parks an
	// event that its projection cannot apply, to go on with the rest.
	// cp.Version is checked and moved as by Apply.
	Park(ctx context.Context, cp Checkpoint, ev eventfeed.Event, reason string) error
}

// ApplyError reports the event a Replica's projection failed on. The batch
// it belonged to was rolled back.
type ApplyError struct {
	Event eventfeed.Event
	Err   error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("apply event %s (%s): %v", e.Event.ID, e.Event.Type, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// AsApplyError returns the *ApplyError in err's chain, or nil.
func AsApplyError(err error) *ApplyError {
	var ae *ApplyError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}
