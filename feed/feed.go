package feed

import "time"

// XML namespaces of the documents this package reads and writes.
const (
	// NS is the Atom namespace (RFC 4287).
	NS = "http://www.w3.org/2005/Atom"
	// NSHistory is the namespace of RFC 5005's fh:archive.
	NSHistory = "http://purl.org/syndication/history/1.0"
	// NSApp is the AtomPub namespace (RFC 5023).
	NSApp = "http://www.w3.org/2007/app"
	// NSEventfeed is the namespace of this project's extension elements,
	// ef:seq and ef:subject. Foreign readers ignore them (RFC 4287 §6.3).
	NSEventfeed = "https://github.com/eventfeed/eventfeed/ns/1"
)

// Link relations used by paged feeds: RFC 4287, RFC 5005, RFC 5023, RFC 8288.
const (
	RelSelf        = "self"
	RelAlternate   = "alternate"
	RelVia         = "via"
	RelEdit        = "edit"
	RelCurrent     = "current"
	RelFirst       = "first"
	RelLast        = "last"
	RelPrevious    = "previous"
	RelNext        = "next"
	RelPrevArchive = "prev-archive"
	RelNextArchive = "next-archive"
	// RelKey links a sealed entry (content of type application/jose) to
	// the key of its subject, served as a JWK (RFC 7517): an extension
	// relation (RFC 4287 §4.2.7.2).
	RelKey = NSEventfeed + "/rel/key"
)

// Media types of Atom documents.
const (
	MediaTypeFeed    = "application/atom+xml"
	MediaTypeEntry   = "application/atom+xml;type=entry"
	MediaTypeService = "application/atomsvc+xml"
)

// Link is an atom:link.
type Link struct {
	Rel  string // "" means alternate (RFC 4287 §4.2.7.2)
	Href string
	Type string
}

// Category is an atom:category.
type Category struct {
	Term   string
	Scheme string
	Label  string
}

// Person is an atom:author or atom:contributor.
type Person struct {
	Name  string
	URI   string
	Email string
}

// Content is an atom:content element.
type Content struct {
	// Type is the type attribute as written: "text", "html", "xhtml", a
	// media type, or "" (which means text).
	Type string
	// Src is the out-of-line content's IRI, "" for inline content.
	Src string
	// Body is the content itself, decoded: the text for text and html, the
	// inner XML for xhtml and XML media types, the decoded bytes for
	// Base64-encoded types, the text for text/* and inline JSON.
	Body []byte
}

// Entry is an atom:entry.
type Entry struct {
	ID         string
	Title      string
	Updated    time.Time
	Published  time.Time // zero when absent
	Authors    []Person
	Links      []Link
	Categories []Category
	Summary    string
	Content    Content
	// Seq is the ef:seq extension: the entry's position in its feed, 0
	// when absent (feeds this package did not write).
	Seq uint64
	// Subject is the ef:subject extension, "" when absent.
	Subject string
}

// Feed is an atom:feed document. Entries appear in document order.
type Feed struct {
	ID      string
	Title   string
	Updated time.Time
	Authors []Person
	Links   []Link
	// Archive is RFC 5005's fh:archive: the document is an archive whose
	// entries never change.
	Archive bool
	Entries []Entry
}

// Link returns the href of the first link with rel, or "". A link without
// rel counts as "alternate".
func (f *Feed) Link(rel string) string { return findLink(f.Links, rel) }

// Link returns the href of the first link with rel, or "". A link without
// rel counts as "alternate".
func (e *Entry) Link(rel string) string { return findLink(e.Links, rel) }

func findLink(links []Link, rel string) string {
	for _, l := range links {
		r := l.Rel
		if r == "" {
			r = RelAlternate
		}
		if r == rel {
			return l.Href
		}
	}
	return ""
}
