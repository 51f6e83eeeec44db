package eventfeed

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/eventfeed/eventfeed/internal/jsonscan"
)

// DefaultContentType is the media type of an Event's Data when none is given.
const DefaultContentType = "application/json"

// Event is a domain event: one entry in a feed.
//
// The Log assigns Feed-relative, gapless sequence numbers; everything else is
// chosen by the producer. ID is the idempotency key: storing the same ID
// twice stores it once.
type Event struct {
	Feed        string    // feed name, e.g. "orders"; see ValidateFeedName
	Seq         uint64    // 1-based position in its feed: gapless, assigned by the Log
	ID          string    // globally unique and stable (urn:uuid:…); the idempotency key
	Type        string    // e.g. "order.placed"
	Subject     string    // the entity it is about, e.g. "order-42" (may be empty)
	Time        time.Time // when it happened; stored to the TimePrecision
	ContentType string    // media type of Data; DefaultContentType when empty
	Data        []byte
}

// Errors shared by every package of the module. Implementations wrap them
// with context; test for them with errors.Is.
var (
	// ErrInvalidFeedName reports a feed name outside [a-z0-9._-]{1,128}.
	ErrInvalidFeedName = errors.New("eventfeed: invalid feed name")
	// ErrInvalidEvent reports an event that cannot be stored: no ID, no Type,
	// a field out of bounds, or Data that is not what its JSON media type
	// says.
	ErrInvalidEvent = errors.New("eventfeed: invalid event")
	// ErrFeedNotFound reports a feed that has no events.
	ErrFeedNotFound = errors.New("eventfeed: feed not found")
	// ErrConflict reports an event ID that is already stored with different
	// content. The stored event is left as it was.
	ErrConflict = errors.New("eventfeed: event ID already used for another event")
	// ErrPageSizeMismatch reports a feed served or written with a page size
	// other than the one fixed when its first event was stored. Caches hold
	// archive pages forever, so the page size of a feed never changes.
	ErrPageSizeMismatch = errors.New("eventfeed: page size differs from the feed's")
	// ErrFeedReset reports a feed whose log was wiped and rebuilt: its epoch
	// changed, and positions taken from the old epoch mean nothing in the new.
	ErrFeedReset = errors.New("eventfeed: feed was reset (epoch changed)")
	// ErrCheckpointLost reports a consumer checkpoint that points at an entry
	// the feed no longer has. Resuming would skip events silently, so it
	// does not resume.
	ErrCheckpointLost = errors.New("eventfeed: checkpoint lost")
	// ErrClosed reports use of a store after Close.
	ErrClosed = errors.New("eventfeed: store closed")
	// ErrErased reports a subject whose data key was destroyed (see
	// TypeErased): its events can no longer be read, and no event can be
	// appended for it.
	ErrErased = errors.New("eventfeed: subject erased")
	// ErrEncryption reports an append to an encrypted feed by a Log that
	// does not encrypt, or the reverse, or an erasure asked of a feed that
	// is not encrypted. Whether a feed is encrypted is fixed by its first
	// event, like its page size.
	ErrEncryption = errors.New("eventfeed: feed's encryption differs")
	// ErrDecrypt reports sealed data (EncryptedContentType) that does not
	// open with its subject's key: it was altered, moved from another
	// event, or the key is not the one it was sealed with. No part of such
	// data is ever handed on.
	ErrDecrypt = errors.New("eventfeed: encrypted data fails to open")
)

// EncryptedContentType is the ContentType of an event of an encrypted feed
// as the Log stores it and the feed carries it: its Data is a JWE (RFC
// 7516) in compact serialization, sealed under the key of the event's
// subject. A consumer that opens it sees the event as it was appended; an
// Event with this ContentType and no Data is one whose subject was erased
// (see Erased).
const EncryptedContentType = "application/jose"

// TypeErased is the type of the tombstone event a Log appends when it
// erases a subject: the event names the subject and holds no data. A
// consumer removes what it holds of the subject; every earlier event of
// the subject stays in the feed, unreadable. Appending an event of this
// type is reserved to the Log.
const TypeErased = "eventfeed.erased"

// Erased reports whether e is an event of an erased subject, as a consumer
// receives it: sealed data whose key was destroyed, handed on with no data.
func (e *Event) Erased() bool {
	return e.ContentType == EncryptedContentType && len(e.Data) == 0
}

// TimePrecision is the precision of an event's Time in every Log and on
// the wire: a Log truncates the Time it is given to it, so that what a
// consumer reads from the feed is exactly what the Log holds. Some Atom
// readers take any fraction of a second as milliseconds (ROME does): a
// nine-digit fraction would move a date by days.
const TimePrecision = time.Millisecond

// ProblemFeedReset is the type of the problem document (RFC 9457) with
// which a publisher answers a URL of an epoch its feed no longer has: the
// feed's log was wiped and rebuilt, and ErrFeedReset is its meaning on the
// client's side. The document's "current" member is the feed's
// subscription URL.
const ProblemFeedReset = "https://github.com/eventfeed/eventfeed/ns/1/problems/feed-reset"

// ProblemUnknownEvent is the type of the problem document (RFC 9457) with
// which a publisher answers an http-feeds request whose lastEventId names
// no event of the feed: resuming from there is impossible, and starting
// again from the beginning is the consumer's decision. Its meaning on the
// client's side is ErrCheckpointLost.
const ProblemUnknownEvent = "https://github.com/eventfeed/eventfeed/ns/1/problems/unknown-event"

// ProblemErased is the type of the problem document (RFC 9457) with
// which a publisher answers 410 Gone for the key of an erased subject:
// the key was destroyed, and the subject's sealed events can no longer be
// opened. Its meaning on the client's side is ErrErased; a consumer hands
// such events on with no data (see Event.Erased).
const ProblemErased = "https://github.com/eventfeed/eventfeed/ns/1/problems/erased"

// MaxFeedNameLen is the longest feed name accepted.
const MaxFeedNameLen = 128

// ValidateFeedName reports whether name is a valid feed name: 1 to
// MaxFeedNameLen characters from [a-z0-9._-], not "." or "..". The error
// wraps ErrInvalidFeedName.
func ValidateFeedName(name string) error {
	if name == "" || len(name) > MaxFeedNameLen || name == "." || name == ".." {
		return fmt.Errorf("%w: %q (want 1 to %d characters of [a-z0-9._-])", ErrInvalidFeedName, name, MaxFeedNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has %q (want [a-z0-9._-])", ErrInvalidFeedName, name, c)
		}
	}
	return nil
}

// Limits on the fields of an Event, enforced by Validate.
const (
	MaxIDLen      = 512
	MaxTypeLen    = 256
	MaxSubjectLen = 512
)

// Validate reports whether e can be stored: a valid feed name, an ID and a
// Type, no field over its limit, no control characters in the text fields
// (they could not be written as XML), a ContentType of the form
// type/subtype, Data that is empty or valid JSON when the media type is
// JSON (application/json or a +json type), and a Time (when set)
// that RFC 3339 can write. Seq is not
// checked: the Log assigns it, and fills in a zero Time. The error wraps
// ErrInvalidEvent or ErrInvalidFeedName.
func (e *Event) Validate() error {
	if err := ValidateFeedName(e.Feed); err != nil {
		return err
	}
	for _, f := range [...]struct {
		name, v  string
		max      int
		required bool
	}{
		{"ID", e.ID, MaxIDLen, true},
		{"Type", e.Type, MaxTypeLen, true},
		{"Subject", e.Subject, MaxSubjectLen, false},
		{"ContentType", e.ContentType, MaxTypeLen, false},
	} {
		switch {
		case f.required && f.v == "":
			return fmt.Errorf("%w: %s is empty", ErrInvalidEvent, f.name)
		case len(f.v) > f.max:
			return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrInvalidEvent, f.name, len(f.v), f.max)
		case !printable(f.v):
			return fmt.Errorf("%w: %s %q has a control character or invalid UTF-8", ErrInvalidEvent, f.name, f.v)
		}
	}
	if e.ContentType != "" {
		if mt, _, err := mime.ParseMediaType(e.ContentType); err != nil || !strings.Contains(mt, "/") {
			return fmt.Errorf("%w: ContentType %q is not a media type (type/subtype)", ErrInvalidEvent, e.ContentType)
		}
	}
	// Consumers decode JSON events as JSON: one that is not would reach
	// them as a string where the others give an object.
	// Empty Data is no data, which every media type allows.
	if len(e.Data) > 0 && isJSON(e.MediaType()) && !jsonscan.Valid(e.Data) {
		return fmt.Errorf("%w: Data is not valid JSON, as its media type %s says it is (send it as text/plain if it is text)", ErrInvalidEvent, e.MediaType())
	}
	if !e.Time.IsZero() && (e.Time.Year() < 1 || e.Time.Year() > 9999) {
		return fmt.Errorf("%w: Time %v is outside the years 1 to 9999 that RFC 3339 can write", ErrInvalidEvent, e.Time)
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// SameContent reports whether e and o are the same event as far as an
// idempotent append is concerned: same feed, type, subject, content type and
// data, and the same time to the TimePrecision unless e's time is zero (a
// retry that let the store fill in the time). Seq is ignored. It is what decides between a
// replay and ErrConflict.
func (e *Event) SameContent(o *Event) bool {
	return e.ID == o.ID && e.Feed == o.Feed && e.Type == o.Type && e.Subject == o.Subject &&
		e.MediaType() == o.MediaType() && string(e.Data) == string(o.Data) &&
		(e.Time.IsZero() || e.Time.Truncate(TimePrecision).Equal(o.Time.Truncate(TimePrecision)))
}

// isJSON reports whether mediaType is a JSON media type: application/json
// or a structured-syntax +json type (RFC 6839), parameters ignored.
func isJSON(mediaType string) bool {
	if mediaType == "application/json" {
		return true // the default, spared the parse (allocations on every append)
	}
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// MediaType returns e.ContentType, or DefaultContentType when it is empty.
func (e *Event) MediaType() string {
	if e.ContentType == "" {
		return DefaultContentType
	}
	return e.ContentType
}
