package feed

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/eventfeed/eventfeed"
)

// DefaultCategoryScheme is the scheme of the atom:category that carries an
// event's type, unless EntryOptions says otherwise.
const DefaultCategoryScheme = "https://github.com/eventfeed/eventfeed/ns/1/type"

// ErrOutOfLineContent reports an entry whose content is not in the document
// but at the IRI in its Content.Src. Entry.Event returns it together with
// the rest of the event, so that a caller may fetch the data itself.
var ErrOutOfLineContent = errors.New("feed: content is out of line (atom:content has src)")

// EntryOptions tunes EntryFromEvent. The zero value writes entries as
// described in the package documentation.
type EntryOptions struct {
	// CategoryScheme is the scheme of the category carrying the event's
	// type; DefaultCategoryScheme when empty.
	CategoryScheme string
}

// EntryFromEvent returns the entry that carries ev in a feed:
//
//   - ID is ev.ID; Title is ev.Type, followed by a space and ev.Subject
//     when there is one;
//   - Updated and Published are ev.Time in UTC, truncated to the
//     millisecond (eventfeed.TimePrecision);
//   - one Category whose Term is ev.Type, in the options' scheme;
//   - Seq and Subject are ev.Seq and ev.Subject (ef:seq and ef:subject);
//   - Content has ev's media type and ev.Data, written the way the package
//     documentation's Content section describes;
//   - Summary repeats Title when the content's type is neither text nor
//     XML, because RFC 4287 §4.1.1.1 requires one then.
//
// It sets no links and no author: the publisher knows the URLs and who
// speaks for the feed, and adds them. Entry.Event reverses it exactly,
// with ContentType set to the media type when ev's was empty, and to
// application/octet-stream when ev's is not a media type (type/subtype),
// which Atom could not carry.
func EntryFromEvent(ev eventfeed.Event, opt EntryOptions) Entry {
	scheme := opt.CategoryScheme
	if scheme == "" {
		scheme = DefaultCategoryScheme
	}
	title := ev.Type
	if ev.Subject != "" {
		title = ev.Type + " " + ev.Subject
	}
	t := ev.Time.UTC().Truncate(eventfeed.TimePrecision)
	typ := ev.MediaType()
	if !isMediaType(typ) {
		// Atom's type attribute must be a media type: carry data of any
		// other "type" as bytes rather than make the page unwritable.
		typ = "application/octet-stream"
	}
	summary := ""
	if k := kindOf(typ); k == kindJSON || k == kindBase64 {
		summary = title
	}
	return Entry{
		ID:         ev.ID,
		Title:      title,
		Updated:    t,
		Published:  t,
		Categories: []Category{{Term: ev.Type, Scheme: scheme}},
		Summary:    summary,
		Content:    Content{Type: typ, Body: ev.Data},
		Seq:        ev.Seq,
		Subject:    ev.Subject,
	}
}

// Event returns the event e carries, as a member of the feed named
// feedName. It reads entries of any feed, not only those EntryFromEvent
// made:
//
//   - Type is the first category's term, or the title when there is no
//     category;
//   - Time is Updated, or Published when Updated is zero;
//   - ContentType is the content's media type: "text" (or no type) gives
//     text/plain, "html" text/html, "xhtml" application/xhtml+xml; Data is
//     the content's Body, except for "xhtml", whose Data is what is inside
//     the xhtml:div, which RFC 4287 §4.1.3.3 says is not part of the
//     content.
//   - An entry without content but with a summary gives the summary as
//     text/plain data.
//
// Out-of-line content (Content.Src set) is not fetched: Event returns the
// event with ContentType set and no Data, together with an error wrapping
// ErrOutOfLineContent. Event does not validate the event; see
// eventfeed.Event.Validate.
func (e *Entry) Event(feedName string) (eventfeed.Event, error) {
	ev := eventfeed.Event{
		Feed:    feedName,
		Seq:     e.Seq,
		ID:      e.ID,
		Subject: e.Subject,
		Time:    e.Updated,
	}
	if len(e.Categories) > 0 {
		ev.Type = e.Categories[0].Term
	} else {
		ev.Type = e.Title
	}
	if ev.Time.IsZero() {
		ev.Time = e.Published
	}
	c := &e.Content
	switch c.Type {
	case "", "text":
		ev.ContentType = "text/plain"
	case "html":
		ev.ContentType = "text/html"
	case "xhtml":
		ev.ContentType = "application/xhtml+xml"
	default:
		ev.ContentType = c.Type
	}
	if c.Src != "" {
		return ev, fmt.Errorf("entry %s: %w: %s", e.ID, ErrOutOfLineContent, c.Src)
	}
	if c.Type == "" && len(c.Body) == 0 && e.Summary != "" {
		ev.Data = []byte(e.Summary)
		return ev, nil
	}
	ev.Data = c.Body
	if c.Type == "xhtml" {
		inner, ok := unwrapDiv(bytes.TrimSpace(c.Body))
		if !ok {
			return ev, fmt.Errorf("entry %s: %w: content of type xhtml is not one xhtml:div", e.ID, ErrInvalid)
		}
		ev.Data = inner
	}
	if len(ev.Data) == 0 {
		ev.Data = nil
	}
	return ev, nil
}

// decodeBase64 decodes standard Base64, ignoring white space (writers
// commonly wrap lines) and accepting missing padding.
func decodeBase64(b []byte) ([]byte, error) {
	// The common case first, in one pass: padded, with no white space
	// but line breaks, which the decoder skips itself.
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	if n, err := base64.StdEncoding.Decode(out, b); err == nil {
		return out[:n], nil
	}
	clean := b
	if i := indexSpace(b); i >= 0 {
		clean = make([]byte, 0, len(b))
		for _, c := range b {
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				clean = append(clean, c)
			}
		}
	}
	enc := base64.StdEncoding
	if len(clean)%4 != 0 {
		enc = base64.RawStdEncoding
		clean = []byte(strings.TrimRight(string(clean), "="))
	}
	out = make([]byte, enc.DecodedLen(len(clean)))
	n, err := enc.Decode(out, clean)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

func indexSpace(b []byte) int {
	for i, c := range b {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}
