package feed

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/eventfeed/eventfeed"
)

// ErrInvalid reports a Feed or Entry that cannot be written as a valid
// Atom document: no author for an entry, a link or content type that is
// not a media type, an xhtml content that is not one xhtml:div, and the
// like. Nothing is written then.
var ErrInvalid = errors.New("feed: cannot be written as valid Atom")

// The writer is hand-written rather than encoding/xml over structs (or
// gorilla/feeds' AtomFeed, which cannot carry the document at all: one feed
// link, categories as text, see the package documentation). The publisher
// renders the working page after every append, so the writer has to be
// cheap: appending into one buffer sized up front, it renders a 500-entry
// page several times faster than encoding/xml's reflection and with a
// handful of allocations instead of thousands (BenchmarkEncodePage). Its
// escaping follows encoding/xml's EscapeText, plus CDATA for XML data that
// cannot go inline and references for characters that attribute
// normalization would change.

// rfc3339Milli is RFC 3339 with three fractional digits.
const rfc3339Milli = "2006-01-02T15:04:05.000Z07:00"

// appendRFC3339 appends t, truncated to the millisecond, as RFC 3339 in
// UTC: with exactly three fractional digits, or none when there is no
// fraction. Not fewer than three: ROME takes the digits as a count of
// milliseconds, so that ".5" would read as 5 ms.
func appendRFC3339(buf []byte, t time.Time) []byte {
	t = t.UTC().Truncate(eventfeed.TimePrecision)
	if t.Nanosecond() == 0 {
		return t.AppendFormat(buf, time.RFC3339)
	}
	return t.AppendFormat(buf, rfc3339Milli)
}

const xmlHeader = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

// Encode writes f as an Atom feed document (RFC 4287) in one Write. The
// same Feed always gives the same bytes.
//
// The document declares the Atom namespace as its default, the ef
// namespace of ef:seq and ef:subject, and the fh namespace (RFC 5005) when
// f.Archive is set, in which case it holds <fh:archive/>. Links are
// written with whatever rel they have, prev-archive and next-archive
// included.
//
// RFC 4287 requires every entry to have an author, its own or the feed's:
// Encode returns an error wrapping ErrInvalid, and writes nothing, when
// f.Authors is empty and an entry has none. It does the same for any other
// value that would make the document invalid against RFC 4287's schema
// (see ErrInvalid). Text that XML cannot carry (invalid UTF-8, control
// characters) is written as U+FFFD, as encoding/xml does.
func Encode(w io.Writer, f *Feed) error {
	buf := make([]byte, 0, feedSizeHint(f))
	buf, err := appendFeed(buf, f)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// EncodeEntry writes e as a standalone Atom entry document
// (application/atom+xml;type=entry), as served for one entry or sent in an
// AtomPub POST. It is written like an entry of Encode, with the namespace
// declarations on the entry itself, and e must have an author of its own
// (ErrInvalid otherwise).
func EncodeEntry(w io.Writer, e *Entry) error {
	buf := make([]byte, 0, entrySizeHint(e)+len(xmlHeader)+128)
	buf = append(buf, xmlHeader...)
	buf = append(buf, `<entry xmlns="`+NS+`" xmlns:ef="`+NSEventfeed+`">`...)
	buf, err := appendEntryBody(buf, e, false, "\n  ")
	if err != nil {
		return err
	}
	buf = append(buf, "\n</entry>\n"...)
	_, err = w.Write(buf)
	return err
}

func feedSizeHint(f *Feed) int {
	n := 512 + len(f.ID) + len(f.Title) + 128*len(f.Links)
	for i := range f.Entries {
		n += entrySizeHint(&f.Entries[i])
	}
	return n
}

func entrySizeHint(e *Entry) int {
	n := 320 + len(e.ID) + len(e.Title) + len(e.Summary) + len(e.Subject)
	for _, l := range e.Links {
		n += 32 + len(l.Href) + len(l.Rel) + len(l.Type)
	}
	for _, c := range e.Categories {
		n += 32 + len(c.Term) + len(c.Scheme) + len(c.Label)
	}
	body := len(e.Content.Body) + 16 // CDATA markers; escaping adds a little
	if k := kindOf(e.Content.Type); k == kindJSON || k == kindBase64 {
		body = len(e.Content.Body)*4/3 + 4
	}
	return n + body + len(e.Content.Type) + len(e.Content.Src)
}

func appendFeed(buf []byte, f *Feed) ([]byte, error) {
	if len(f.Authors) == 0 {
		for i := range f.Entries {
			if len(f.Entries[i].Authors) == 0 {
				return nil, fmt.Errorf("%w: entry %q has no author and the feed has none", ErrInvalid, f.Entries[i].ID)
			}
		}
	}
	buf = append(buf, xmlHeader...)
	buf = append(buf, `<feed xmlns="`+NS+`"`...)
	if f.Archive {
		buf = append(buf, ` xmlns:fh="`+NSHistory+`"`...)
	}
	buf = append(buf, ` xmlns:ef="`+NSEventfeed+`">`...)
	const ind = "\n  "
	buf = appendElem(buf, ind, "id", f.ID)
	buf = appendElem(buf, ind, "title", f.Title)
	buf, err := appendDate(buf, ind, "updated", f.Updated)
	if err != nil {
		return nil, fmt.Errorf("feed %q: %w", f.ID, err)
	}
	if buf, err = appendPeople(buf, ind, f.Authors); err != nil {
		return nil, fmt.Errorf("feed %q: %w", f.ID, err)
	}
	if buf, err = appendLinks(buf, ind, f.Links); err != nil {
		return nil, fmt.Errorf("feed %q: %w", f.ID, err)
	}
	if f.Archive {
		buf = append(buf, ind+"<fh:archive/>"...)
	}
	for i := range f.Entries {
		buf = append(buf, ind+"<entry>"...)
		if buf, err = appendEntryBody(buf, &f.Entries[i], true, "\n    "); err != nil {
			return nil, err
		}
		buf = append(buf, ind+"</entry>"...)
	}
	buf = append(buf, "\n</feed>\n"...)
	return buf, nil
}

// appendEntryBody appends the children of an atom:entry, each on a line
// starting with ind. inFeed tells whether a feed-level author may stand in
// for the entry's own (appendFeed checked it).
func appendEntryBody(buf []byte, e *Entry, inFeed bool, ind string) ([]byte, error) {
	if !inFeed && len(e.Authors) == 0 {
		return nil, fmt.Errorf("%w: entry %q has no author", ErrInvalid, e.ID)
	}
	var err error
	buf = appendElem(buf, ind, "id", e.ID)
	buf = appendElem(buf, ind, "title", e.Title)
	if buf, err = appendDate(buf, ind, "updated", e.Updated); err != nil {
		return nil, fmt.Errorf("entry %q: %w", e.ID, err)
	}
	if !e.Published.IsZero() {
		if buf, err = appendDate(buf, ind, "published", e.Published); err != nil {
			return nil, fmt.Errorf("entry %q: %w", e.ID, err)
		}
	}
	if buf, err = appendPeople(buf, ind, e.Authors); err != nil {
		return nil, fmt.Errorf("entry %q: %w", e.ID, err)
	}
	if buf, err = appendLinks(buf, ind, e.Links); err != nil {
		return nil, fmt.Errorf("entry %q: %w", e.ID, err)
	}
	for _, c := range e.Categories {
		buf = append(buf, ind...)
		buf = append(buf, `<category term="`...)
		buf = appendAttr(buf, c.Term)
		if c.Scheme != "" {
			buf = append(buf, `" scheme="`...)
			buf = appendAttr(buf, c.Scheme)
		}
		if c.Label != "" {
			buf = append(buf, `" label="`...)
			buf = appendAttr(buf, c.Label)
		}
		buf = append(buf, `"/>`...)
	}
	if e.Summary != "" {
		buf = appendElem(buf, ind, "summary", e.Summary)
	}
	if e.Seq != 0 {
		buf = append(buf, ind...)
		buf = append(buf, "<ef:seq>"...)
		buf = strconv.AppendUint(buf, e.Seq, 10)
		buf = append(buf, "</ef:seq>"...)
	}
	if e.Subject != "" {
		buf = appendElem(buf, ind, "ef:subject", e.Subject)
	}
	if buf, err = appendContent(buf, ind, &e.Content); err != nil {
		return nil, fmt.Errorf("entry %q: %w", e.ID, err)
	}
	return buf, nil
}

// appendContent appends c as atom:content following RFC 4287 §4.1.3.3 and
// the package documentation's Content section; nothing when c is empty.
func appendContent(buf []byte, ind string, c *Content) ([]byte, error) {
	if c.Type == "" && c.Src == "" && len(c.Body) == 0 {
		return buf, nil
	}
	switch c.Type {
	case "", "text", "html", "xhtml":
	default:
		if !isMediaType(c.Type) {
			return nil, fmt.Errorf("%w: content type %q is not text, html, xhtml or a media type", ErrInvalid, c.Type)
		}
	}
	k := kindOf(c.Type)
	buf = append(buf, ind...)
	buf = append(buf, "<content"...)
	if c.Type != "" {
		buf = append(buf, ` type="`...)
		buf = appendAttr(buf, c.Type)
		buf = append(buf, '"')
	}
	if c.Src != "" {
		if c.Type == "text" || c.Type == "html" || c.Type == "xhtml" {
			return nil, fmt.Errorf("%w: out-of-line content has type %q, want a media type", ErrInvalid, c.Type)
		}
		if len(c.Body) != 0 {
			return nil, fmt.Errorf("%w: content has both src and a body", ErrInvalid)
		}
		buf = append(buf, ` src="`...)
		buf = appendAttr(buf, c.Src)
		return append(buf, `"/>`...), nil
	}
	buf = append(buf, '>')
	switch k {
	case kindText, kindHTML:
		buf = appendText(buf, c.Body)
	case kindXHTML:
		if !inlineXML(c.Body, true) {
			return nil, fmt.Errorf("%w: xhtml content is not one well-formed xhtml:div declaring its namespaces", ErrInvalid)
		}
		buf = append(buf, c.Body...)
	case kindXML:
		switch {
		case inlineXML(c.Body, false):
			buf = append(buf, c.Body...)
		case xmlText(c.Body):
			buf = appendCDATA(buf, c.Body)
		default:
			buf = appendText(buf, c.Body)
		}
	case kindJSON, kindBase64:
		// RFC 4287 §4.1.3.3 rule 7: JSON is neither text/* nor XML.
		buf = base64.StdEncoding.AppendEncode(buf, c.Body)
	}
	return append(buf, "</content>"...), nil
}

func appendElem(buf []byte, ind, name, text string) []byte {
	buf = append(buf, ind...)
	buf = append(buf, '<')
	buf = append(buf, name...)
	buf = append(buf, '>')
	buf = appendText(buf, text)
	buf = append(buf, "</"...)
	buf = append(buf, name...)
	return append(buf, '>')
}

// appendDate appends an RFC 3339 date in UTC, truncated to the millisecond
// (eventfeed.TimePrecision), as appendRFC3339 writes it.
func appendDate(buf []byte, ind, name string, t time.Time) ([]byte, error) {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("%w: %s year %d is outside 0001-9999", ErrInvalid, name, y)
	}
	buf = append(buf, ind...)
	buf = append(buf, '<')
	buf = append(buf, name...)
	buf = append(buf, '>')
	buf = appendRFC3339(buf, t)
	buf = append(buf, "</"...)
	buf = append(buf, name...)
	return append(buf, '>'), nil
}

func appendPeople(buf []byte, ind string, people []Person) ([]byte, error) {
	for _, p := range people {
		if p.Email != "" && !isEmail(p.Email) {
			return nil, fmt.Errorf("%w: author %q has email %q, want x@y", ErrInvalid, p.Name, p.Email)
		}
		buf = append(buf, ind...)
		buf = append(buf, "<author><name>"...)
		buf = appendText(buf, p.Name)
		buf = append(buf, "</name>"...)
		if p.URI != "" {
			buf = append(buf, "<uri>"...)
			buf = appendText(buf, p.URI)
			buf = append(buf, "</uri>"...)
		}
		if p.Email != "" {
			buf = append(buf, "<email>"...)
			buf = appendText(buf, p.Email)
			buf = append(buf, "</email>"...)
		}
		buf = append(buf, "</author>"...)
	}
	return buf, nil
}

// isEmail reports whether s matches the schema's atomEmailAddress, ".+@.+"
// (where "." is any character but a line break).
func isEmail(s string) bool {
	i := strings.IndexByte(s, '@')
	return i > 0 && i < len(s)-1 && !strings.ContainsAny(s, "\n\r")
}

func appendLinks(buf []byte, ind string, links []Link) ([]byte, error) {
	for _, l := range links {
		if l.Type != "" && !isMediaType(l.Type) {
			return nil, fmt.Errorf("%w: link %q has type %q, want a media type", ErrInvalid, l.Href, l.Type)
		}
		buf = append(buf, ind...)
		buf = append(buf, "<link"...)
		if l.Rel != "" {
			buf = append(buf, ` rel="`...)
			buf = appendAttr(buf, l.Rel)
			buf = append(buf, '"')
		}
		buf = append(buf, ` href="`...)
		buf = appendAttr(buf, l.Href)
		buf = append(buf, '"')
		if l.Type != "" {
			buf = append(buf, ` type="`...)
			buf = appendAttr(buf, l.Type)
			buf = append(buf, '"')
		}
		buf = append(buf, "/>"...)
	}
	return buf, nil
}
