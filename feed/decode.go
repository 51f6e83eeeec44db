package feed

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits that apply when DecodeOptions leaves them zero.
const (
	// DefaultMaxBytes is the largest document Decode reads: 16 MiB, about
	// 50 times a 500-entry page of small events.
	DefaultMaxBytes = 16 << 20
	// DefaultMaxEntries is the most entries Decode accepts in one document.
	DefaultMaxEntries = 10_000
	// DefaultMaxEntryBytes is the largest one entry may be, from <entry> to
	// </entry>: 4 MiB.
	DefaultMaxEntryBytes = 4 << 20
)

// maxDepth bounds element nesting: Atom needs 5 levels, inline XML content
// a few dozen more.
const maxDepth = 256

// maxBindings bounds the namespace declarations in scope, which every
// prefix lookup searches.
const maxBindings = 1024

var (
	// ErrTooLarge reports a document over DecodeOptions.MaxBytes, with more
	// entries than MaxEntries, or with an entry over MaxEntryBytes.
	ErrTooLarge = errors.New("feed: document too large")
	// ErrNotAtom reports a well-formed document whose root element is not
	// the one asked for: atom:feed for Decode, atom:entry for DecodeEntry.
	ErrNotAtom = errors.New("feed: not an Atom document")
)

// SyntaxError reports a document that is not well-formed XML, or a value
// that cannot be read: a date that is not RFC 3339, an ef:seq that is not
// a number, content that is not valid Base64.
type SyntaxError struct {
	Offset int64 // the byte offset in the document where the error was found
	Err    error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("feed: syntax error at byte %d: %v", e.Offset, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// DecodeOptions bounds what Decode and DecodeEntry read. The zero value
// applies the defaults.
type DecodeOptions struct {
	// MaxBytes is the largest document read, in bytes as they come from
	// the reader; DefaultMaxBytes when 0. Over it, decoding stops with
	// ErrTooLarge.
	MaxBytes int64
	// MaxEntries is the most entries a feed document may hold;
	// DefaultMaxEntries when 0.
	MaxEntries int
	// MaxEntryBytes is the largest an entry may be, in document bytes;
	// DefaultMaxEntryBytes when 0.
	MaxEntryBytes int64
	// Base is the URL the document was fetched from (after redirects),
	// against which relative xml:base attributes (RFC 4287 §2, XML Base)
	// are resolved. The href of a link and the src of out-of-line content
	// within the scope of an xml:base come out resolved against it;
	// others are left as written, relative to the document's URL (see
	// Feed.Resolve). Without Base, only xml:base values that are absolute
	// URLs are applied.
	Base *url.URL
	// Head, when not nil, is called once by Decode with the feed's
	// elements read before its first entry (Entries empty), as soon as
	// that entry starts, or at the end of a feed without entries. Feeds
	// written by this package, and most others, put their links and
	// fh:archive first, so a reader that follows links can start on the
	// next document while this one's entries are still being read. The
	// Feed Decode returns holds every element, those after the first
	// entry too. Head must not keep head.
	Head func(head *Feed)
}

func (o DecodeOptions) withDefaults() DecodeOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = DefaultMaxEntryBytes
	}
	return o
}

// Decode reads an Atom feed document from r and returns its metadata (ID,
// Title, Updated, Authors, Links, Archive). It hands each entry to fn as
// soon as the entry's end tag is read, in document order, so that memory
// stays bounded by one entry whatever the document's size.
//
// The *Entry passed to fn, and its Links, Categories and Authors slices,
// are reused for the next entry once fn returns: copy what you keep. Its
// strings and Content.Body are not reused, so an eventfeed.Event from
// Entry.Event may be kept. An error from fn stops decoding and is
// returned, wrapped (errors.Is works). When fn is nil, the entries are
// returned in Feed.Entries instead.
//
// Errors are ErrTooLarge, ErrNotAtom, a *SyntaxError, or the reader's
// error. See the package documentation for what is read and what skipped.
func Decode(r io.Reader, opt DecodeOptions, fn func(*Entry) error) (*Feed, error) {
	d := newDecoder(r, opt)
	f := &Feed{}
	if err := d.root("feed"); err != nil {
		return nil, err
	}
	if err := d.feed(f, fn); err != nil {
		return nil, err
	}
	return f, nil
}

// DecodeEntry reads an Atom entry document, such as the body of an
// AtomPub POST. Its errors are those of Decode.
func DecodeEntry(r io.Reader, opt DecodeOptions) (*Entry, error) {
	d := newDecoder(r, opt)
	if err := d.root("entry"); err != nil {
		return nil, err
	}
	e := &Entry{}
	if err := d.entry(e); err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return e, nil
}

// decoder is a recursive-descent reader over the scanner's tokens. It
// resolves namespace prefixes and checks that end tags match.
type decoder struct {
	s   *scanner
	opt DecodeOptions

	// The current token, set by next.
	kind  tokKind
	space string // namespace URI of a start or end tag
	local []byte // local name of a start or end tag
	prev  int64  // input offset of the current token

	stack    []frame
	bases    []*url.URL // the xml:base in scope in each open element, resolved; nil for none or unknown
	names    []byte     // the qualified names of the open elements
	bindings []binding
	scratch  []byte
	interned map[string]string
	entries  int
	// entryStart is the offset of the current entry's start tag, -1
	// outside entries.
	entryStart int64
}

type frame struct {
	name int // offset of the element's qualified name in names
	nb   int // len(bindings) before the element's declarations
}

type binding struct{ prefix, uri string }

func newDecoder(r io.Reader, opt DecodeOptions) *decoder {
	opt = opt.withDefaults()
	return &decoder{s: newScanner(r, opt.MaxBytes), opt: opt, interned: make(map[string]string), entryStart: -1}
}

// newBytesDecoder returns a decoder reading b in place.
func newBytesDecoder(b []byte) *decoder {
	s := &scanner{buf: b, end: len(b), max: int64(len(b)), err: io.EOF}
	return &decoder{s: s, opt: DecodeOptions{}.withDefaults(), interned: make(map[string]string), entryStart: -1}
}

// syntax returns a *SyntaxError at the current token.
func (d *decoder) syntax(format string, args ...any) error {
	return syntaxAt(d.prev, format, args...)
}

// next reads the next start tag, end tag or piece of character data.
func (d *decoder) next() error {
	s := d.s
	if d.entryStart >= 0 && s.base+int64(s.pos)-d.entryStart > d.opt.MaxEntryBytes {
		return fmt.Errorf("%w: entry at byte %d is over %d bytes", ErrTooLarge, d.entryStart, d.opt.MaxEntryBytes)
	}
	if err := s.next(); err != nil {
		return d.readError(err)
	}
	d.prev = s.start
	switch s.kind {
	case tokStart:
		return d.start()
	case tokEnd:
		return d.end1()
	}
	if len(d.stack) == 0 && len(bytes.TrimLeft(s.text, " \t\r\n")) != 0 {
		return d.syntax("text outside the root element")
	}
	d.kind = tokText
	return nil
}

func (d *decoder) readError(err error) error {
	switch {
	case err == errLimit:
		return fmt.Errorf("%w: over %d bytes", ErrTooLarge, d.opt.MaxBytes)
	case err == io.EOF:
		off := d.s.base + int64(d.s.end)
		if len(d.stack) > 0 {
			return syntaxAt(off, "unexpected end of document inside <%s>", d.names[d.stack[len(d.stack)-1].name:])
		}
		return syntaxAt(off, "no root element")
	}
	return err
}

func splitName(qname []byte) (prefix, local []byte) {
	if i := bytes.IndexByte(qname, ':'); i >= 0 {
		return qname[:i], qname[i+1:]
	}
	return nil, qname
}

func (d *decoder) start() error {
	s := d.s
	if len(d.stack) >= maxDepth {
		return d.syntax("elements nested deeper than %d", maxDepth)
	}
	d.stack = append(d.stack, frame{len(d.names), len(d.bindings)})
	d.names = append(d.names, s.name...)
	base := d.base()
	for _, a := range s.attrs {
		// The xml prefix is bound to the XML namespace and cannot be
		// bound to another.
		if string(a.name) == "xml:base" {
			if ref, err := url.Parse(strings.TrimSpace(string(a.value))); err == nil {
				switch parent := cmp.Or(base, d.opt.Base); {
				case parent != nil:
					base = parent.ResolveReference(ref)
				case ref.IsAbs():
					base = ref
				}
			}
		}
		prefix, local := splitName(a.name)
		if len(d.bindings) == maxBindings {
			return d.syntax("more than %d namespace declarations in scope", maxBindings)
		}
		switch {
		case prefix == nil && string(local) == "xmlns":
			d.bindings = append(d.bindings, binding{"", d.intern(a.value)})
		case string(prefix) == "xmlns":
			if len(a.value) == 0 {
				return d.syntax("namespace prefix %s bound to no name", local)
			}
			d.bindings = append(d.bindings, binding{d.intern(local), d.intern(a.value)})
		}
	}
	d.bases = append(d.bases, base)
	prefix, local := splitName(s.name)
	space, ok := d.lookup(prefix)
	if !ok {
		return d.syntax("undeclared namespace prefix %q", prefix)
	}
	for _, a := range s.attrs {
		if p, _ := splitName(a.name); p != nil && string(p) != "xmlns" {
			if _, ok := d.lookup(p); !ok {
				return d.syntax("undeclared namespace prefix %q", p)
			}
		}
	}
	d.kind, d.space, d.local = tokStart, space, local
	return nil
}

func (d *decoder) end1() error {
	s := d.s
	if len(d.stack) == 0 {
		return d.syntax("unexpected end tag </%s>", s.name)
	}
	f := d.stack[len(d.stack)-1]
	if open := d.names[f.name:]; !bytes.Equal(open, s.name) {
		return d.syntax("end tag </%s> does not match <%s>", s.name, open)
	}
	prefix, local := splitName(s.name)
	d.space, _ = d.lookup(prefix)
	d.bindings = d.bindings[:f.nb]
	d.names = d.names[:f.name]
	d.stack = d.stack[:len(d.stack)-1]
	d.bases = d.bases[:len(d.stack)]
	d.kind, d.local = tokEnd, local
	return nil
}

// base returns the xml:base in scope, resolved; nil when there is none
// (or it cannot be resolved).
func (d *decoder) base() *url.URL {
	if n := len(d.bases); n > 0 {
		return d.bases[n-1]
	}
	return nil
}

// resolve resolves href against the xml:base in scope, if any: hrefs
// under none are left for the caller to resolve against the document's
// URL, which saves parsing a URL for every entry's links.
func (d *decoder) resolve(href string) string {
	b := d.base()
	if b == nil {
		return href
	}
	return resolve(b, strings.TrimSpace(href))
}

func (d *decoder) lookup(prefix []byte) (string, bool) {
	for i := len(d.bindings) - 1; i >= 0; i-- {
		if d.bindings[i].prefix == string(prefix) {
			return d.bindings[i].uri, true
		}
	}
	switch string(prefix) {
	case "":
		return "", true
	case "xml":
		return "http://www.w3.org/XML/1998/namespace", true
	}
	return "", false
}

// intern returns b as a string from a small table, so that values
// repeated on every entry (namespaces, link rels and types, category
// terms and schemes, content types) are allocated once per document. The
// table is bounded: a document of all different values gets plain copies.
func (d *decoder) intern(b []byte) string {
	if v, ok := d.interned[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(d.interned) < 256 && len(v) <= 256 {
		d.interned[v] = v
	}
	return v
}

func (d *decoder) attrValue(name string) []byte {
	for _, a := range d.s.attrs {
		if string(a.name) == name {
			return a.value
		}
	}
	return nil
}

// root reads up to the root element and checks it is atom:<name>.
func (d *decoder) root(name string) error {
	for {
		if err := d.next(); err != nil {
			return err
		}
		if d.kind == tokStart {
			break
		}
	}
	if d.space != NS || string(d.local) != name {
		return fmt.Errorf("%w: root element is {%s}%s, want {%s}%s", ErrNotAtom, d.space, d.local, NS, name)
	}
	return nil
}

// end checks that nothing but white space, comments and processing
// instructions follow the root.
func (d *decoder) end() error {
	for {
		err := d.s.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return d.readError(err)
		}
		d.prev = d.s.start
		if d.s.kind != tokText || len(bytes.TrimLeft(d.s.text, " \t\r\n")) != 0 {
			return d.syntax("content after the root element")
		}
	}
}

// skip consumes the current element's content and end tag without keeping
// any of it: a foreign element of any size costs no memory.
func (d *decoder) skip() error {
	depth := len(d.stack)
	for {
		if err := d.next(); err != nil {
			return err
		}
		if d.kind == tokEnd && len(d.stack) < depth {
			return nil
		}
	}
}

// readText returns the character data of the current element, skipping any
// child elements, as a slice of a scratch buffer valid until the next call.
func (d *decoder) readText() ([]byte, error) {
	d.scratch = d.scratch[:0]
	depth := len(d.stack)
	for {
		if err := d.next(); err != nil {
			return nil, err
		}
		switch d.kind {
		case tokText:
			d.scratch = append(d.scratch, d.s.text...)
		case tokStart:
			if err := d.skip(); err != nil {
				return nil, err
			}
		case tokEnd:
			if len(d.stack) < depth {
				return d.scratch, nil
			}
		}
	}
}

func (d *decoder) readString() (string, error) {
	b, err := d.readText()
	if err != nil {
		return "", err
	}
	return string(bytes.TrimSpace(b)), nil
}

func (d *decoder) readDate() (time.Time, error) {
	b, err := d.readText()
	if err != nil {
		return time.Time{}, err
	}
	b = bytes.TrimSpace(b)
	t, ok := parseRFC3339(b)
	if !ok {
		return time.Time{}, d.syntax("<%s> %q is not an RFC 3339 date", d.local, b)
	}
	return t, nil
}

// readConstruct reads a text construct (title, summary) or atom:content of
// kind k: character data when the element holds only text, or the raw
// inner XML, trimmed of white space, when it holds elements (xhtml and
// inline XML). The result is valid until the next call.
func (d *decoder) readConstruct(k contentKind) (raw bool, b []byte, err error) {
	d.s.startCapture(d.s.base + int64(d.s.pos))
	d.scratch = d.scratch[:0]
	depth := len(d.stack)
	for {
		if err := d.next(); err != nil {
			d.s.stopCapture(d.s.base + int64(d.s.pos))
			return false, nil, err
		}
		switch d.kind {
		case tokText:
			d.scratch = append(d.scratch, d.s.text...)
		case tokStart:
			if k == kindBase64 {
				d.s.stopCapture(d.s.base + int64(d.s.pos))
				return false, nil, d.syntax("element <%s> inside Base64 content", d.local)
			}
			raw = true
		case tokEnd:
			if len(d.stack) < depth {
				inner := d.s.stopCapture(d.prev)
				if raw {
					return true, bytes.TrimSpace(inner), nil
				}
				return false, d.scratch, nil
			}
		}
	}
}

func (d *decoder) feed(f *Feed, fn func(*Entry) error) error {
	var e *Entry
	if fn != nil {
		e = &Entry{}
	}
	head := d.opt.Head
	for {
		if err := d.next(); err != nil {
			return err
		}
		switch d.kind {
		case tokEnd:
			if head != nil {
				head(f)
			}
			return d.end()
		case tokText:
			continue
		}
		var err error
		switch d.space {
		case NS:
			switch string(d.local) {
			case "id":
				f.ID, err = d.readString()
			case "title":
				f.Title, err = d.textConstruct()
			case "updated":
				f.Updated, err = d.readDate()
			case "author":
				var p Person
				p, err = d.person()
				f.Authors = append(f.Authors, p)
			case "link":
				f.Links = append(f.Links, d.link())
				err = d.skip()
			case "entry":
				if head != nil {
					head(f)
					head = nil
				}
				d.entries++
				if d.entries > d.opt.MaxEntries {
					return fmt.Errorf("%w: more than %d entries", ErrTooLarge, d.opt.MaxEntries)
				}
				if fn == nil {
					f.Entries = append(f.Entries, Entry{})
					err = d.entry(&f.Entries[len(f.Entries)-1])
					break
				}
				*e = Entry{Authors: e.Authors[:0], Links: e.Links[:0], Categories: e.Categories[:0]}
				if err = d.entry(e); err == nil {
					if err = fn(e); err != nil {
						return fmt.Errorf("feed: entry %s: %w", e.ID, err)
					}
				}
			default:
				err = d.skip()
			}
		case NSHistory:
			if string(d.local) == "archive" {
				f.Archive = true
			}
			err = d.skip()
		default:
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
}

// textConstruct reads a title or summary as a string: its text, or for
// type="xhtml" the inner XML of its xhtml:div (RFC 4287 §3.1.1.3: the div
// is not part of the content).
func (d *decoder) textConstruct() (string, error) {
	k := kindOf(string(d.attrValue("type")))
	_, b, err := d.readConstruct(k)
	if err != nil {
		return "", err
	}
	if k == kindXHTML {
		if inner, ok := unwrapDiv(bytes.TrimSpace(b)); ok {
			b = inner
		}
	}
	return string(bytes.TrimSpace(b)), nil
}

func (d *decoder) link() Link {
	var l Link
	for _, a := range d.s.attrs {
		switch string(a.name) {
		case "href":
			l.Href = d.resolve(string(a.value))
		case "rel":
			l.Rel = d.intern(a.value)
		case "type":
			l.Type = d.intern(a.value)
		}
	}
	return l
}

func (d *decoder) person() (Person, error) {
	var p Person
	depth := len(d.stack)
	for {
		if err := d.next(); err != nil {
			return p, err
		}
		switch d.kind {
		case tokEnd:
			if len(d.stack) < depth {
				return p, nil
			}
			continue
		case tokText:
			continue
		}
		var err error
		switch {
		case d.space == NS && string(d.local) == "name":
			p.Name, err = d.readString()
		case d.space == NS && string(d.local) == "uri":
			p.URI, err = d.readString()
		case d.space == NS && string(d.local) == "email":
			p.Email, err = d.readString()
		default:
			err = d.skip()
		}
		if err != nil {
			return p, err
		}
	}
}

func (d *decoder) entry(e *Entry) error {
	depth := len(d.stack)
	d.entryStart = d.prev
	for {
		if err := d.next(); err != nil {
			return err
		}
		switch d.kind {
		case tokEnd:
			if len(d.stack) < depth {
				d.entryStart = -1
				return nil
			}
			continue
		case tokText:
			continue
		}
		var err error
		switch d.space {
		case NS:
			switch string(d.local) {
			case "id":
				e.ID, err = d.readString()
			case "title":
				e.Title, err = d.textConstruct()
			case "updated":
				e.Updated, err = d.readDate()
			case "published":
				e.Published, err = d.readDate()
			case "author":
				var p Person
				p, err = d.person()
				e.Authors = append(e.Authors, p)
			case "link":
				e.Links = append(e.Links, d.link())
				err = d.skip()
			case "category":
				e.Categories = append(e.Categories, d.category())
				err = d.skip()
			case "summary":
				e.Summary, err = d.textConstruct()
			case "content":
				err = d.content(&e.Content)
			default:
				err = d.skip()
			}
		case NSEventfeed:
			switch string(d.local) {
			case "seq":
				var b []byte
				if b, err = d.readText(); err == nil {
					b = bytes.TrimSpace(b)
					if e.Seq, err = parseSeq(b); err != nil {
						err = d.syntax("<ef:seq> %q is not a positive integer", b)
					}
				}
			case "subject":
				var b []byte
				if b, err = d.readText(); err == nil {
					e.Subject = string(b)
				}
			default:
				err = d.skip()
			}
		default:
			err = d.skip()
		}
		if err != nil {
			return err
		}
	}
}

func parseSeq(b []byte) (uint64, error) {
	if len(b) == 0 || len(b) > 20 {
		return 0, strconv.ErrSyntax
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, strconv.ErrRange
		}
		n = n*10 + d
	}
	if n == 0 {
		return 0, strconv.ErrRange
	}
	return n, nil
}

func (d *decoder) category() Category {
	var c Category
	for _, a := range d.s.attrs {
		switch string(a.name) {
		case "term":
			c.Term = d.intern(a.value)
		case "scheme":
			c.Scheme = d.intern(a.value)
		case "label":
			c.Label = string(a.value)
		}
	}
	return c
}

func (d *decoder) content(c *Content) error {
	*c = Content{}
	for _, a := range d.s.attrs {
		switch string(a.name) {
		case "type":
			c.Type = d.intern(a.value)
		case "src":
			c.Src = d.resolve(string(a.value))
		}
	}
	k := kindOf(c.Type)
	raw, b, err := d.readConstruct(k)
	if err != nil {
		return err
	}
	if c.Src != "" {
		if len(bytes.TrimSpace(b)) != 0 {
			return d.syntax("<content> has both src and content")
		}
		return nil
	}
	switch {
	case raw:
		// Inline XML (xhtml, an XML media type, or markup some writer
		// left unescaped): the inner XML as written.
	case k == kindJSON && jsonInline(b):
		// JSON written inline, as earlier versions of this package did
		// (in CDATA) and some writers still do: Base64 never looks like
		// JSON (see jsonInline).
	case k == kindJSON || k == kindBase64:
		data, err := decodeBase64(b)
		if err != nil {
			return d.syntax("<content type=%q> is not valid Base64: %v", c.Type, err)
		}
		if len(data) > 0 {
			c.Body = data
		}
		return nil
	}
	if len(b) > 0 {
		c.Body = bytes.Clone(b)
	}
	return nil
}

// parseRFC3339 parses an RFC 3339 date-time
// (2006-01-02T15:04:05[.frac](Z|±hh:mm), T and Z in either case) without
// allocating, into UTC. Digits beyond nanoseconds are dropped.
func parseRFC3339(b []byte) (time.Time, bool) {
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' ||
		b[10] != 'T' && b[10] != 't' {
		return time.Time{}, false
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return time.Time{}, false
		}
		digits := rest[1:i]
		if len(digits) > 9 {
			digits = digits[:9] // finer than time.Time holds
		}
		frac, _ := num(digits)
		for n := len(digits); n < 9; n++ {
			frac *= 10
		}
		nsec = frac
		rest = rest[i:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := num(rest[1:3])
		om, ok2 := num(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
