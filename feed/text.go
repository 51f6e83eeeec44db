package feed

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"
)

// contentKind is how RFC 4287 §4.1.3.3 says a content type is carried.
type contentKind uint8

const (
	kindText   contentKind = iota // "text", "", text/*: escaped text
	kindHTML                      // "html": escaped HTML
	kindXHTML                     // "xhtml": one inline xhtml:div
	kindXML                       // XML media types: inline XML
	kindJSON                      // JSON media types: Base64, read inline too (see jsonInline)
	kindBase64                    // any other media type: Base64
)

// kindOf classifies a content type attribute. Media types are compared
// without case and without parameters. XML wins over text/ (text/xml is
// XML), as in RFC 4287 §4.1.3.3's order of rules.
func kindOf(typ string) contentKind {
	switch typ {
	case "", "text":
		return kindText
	case "html":
		return kindHTML
	case "xhtml":
		return kindXHTML
	case "application/json":
		return kindJSON
	}
	mt := typ
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	slash := strings.IndexByte(mt, '/')
	if slash <= 0 || slash == len(mt)-1 {
		// Not a media type at all: read and write it as text rather than
		// guess (the schema rejects it; Encode refuses it).
		return kindText
	}
	switch {
	case hasSuffixFold(mt, "/xml") || hasSuffixFold(mt, "+xml"):
		return kindXML
	case hasPrefixFold(mt, "text/"):
		return kindText
	case hasSuffixFold(mt, "/json") || hasSuffixFold(mt, "+json"):
		return kindJSON
	}
	return kindBase64
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isMediaType reports whether s matches the schema's atomMediaType, ".+/.+".
func isMediaType(s string) bool {
	i := strings.IndexByte(s, '/')
	return i > 0 && i < len(s)-1
}

// jsonInline reports whether b, the text of an atom:content of a JSON
// media type, is the JSON itself rather than its Base64 form. Writers
// should use Base64 (RFC 4287 §4.1.3.3 rule 7), but earlier versions of
// this package wrote JSON inline, and other writers do. The two cannot be
// confused: Base64 text never starts with '{', '[', '"' or '-', with which
// JSON text whose value is an object, array, string or negative number
// always does; and a JSON literal (true, false, null, a non-negative
// number) is never the Base64 form of JSON, whose first byte would then
// be 0x7c or above, which no JSON text starts with.
func jsonInline(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '{', '[', '"', '-':
		return true
	}
	switch string(b) {
	case "true", "false", "null":
		return true
	}
	return jsonNumber(b)
}

// jsonNumber reports whether b is a non-negative JSON number (RFC 8259 §6).
func jsonNumber(b []byte) bool {
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	i := digits(0)
	if i == 0 || b[0] == '0' && i > 1 {
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(b)
}

// unwrapDiv returns what is inside b, one xhtml:div element as RFC 4287
// requires of xhtml text constructs and content (§3.1.1.3, §4.1.3.3), and
// reports whether b was one. The div's namespace is told by its local name
// only: its prefix may be bound outside b.
func unwrapDiv(b []byte) ([]byte, bool) {
	s := &scanner{buf: b, end: len(b), max: int64(len(b)), err: io.EOF}
	depth, inner := 0, 0
	for {
		if err := s.next(); err != nil {
			return nil, false
		}
		switch s.kind {
		case tokStart:
			if depth == 0 {
				if _, local := splitName(s.name); s.start != 0 || string(local) != "div" {
					return nil, false
				}
				inner = s.pos
			}
			depth++
		case tokEnd:
			depth--
			if depth == 0 {
				if s.pos != len(b) {
					return nil, false
				}
				if s.start < int64(inner) { // <div/>
					return b[inner:inner], true
				}
				return b[inner:s.start], true
			}
		case tokText:
			if depth == 0 {
				return nil, false
			}
		}
	}
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// xmlText reports whether b is valid UTF-8 made only of characters XML can
// carry, so that it can be written as text and read back unchanged.
func xmlText[T ~string | ~[]byte](b T) bool {
	for i := 0; i < len(b); {
		for i < len(b) && plainASCII[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := decodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
			return false
		}
		i += n
	}
	return true
}

// plainASCII marks the printable ASCII bytes, line feed and tab.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	t['\n'], t['\t'] = true, true
	return t
}()

// Bytes that escaping leaves as they are, in text and in attributes.
var textSafe, attrSafe = func() (text, attr [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		text[c], attr[c] = true, true
	}
	text['\n'], text['\t'] = true, true
	for _, c := range "&<>" {
		text[c], attr[c] = false, false
	}
	attr['"'] = false
	return text, attr
}()

// decodeRune decodes the first rune of s, which starts with a non-ASCII
// byte. The conversion of at most 4 bytes does not escape and so does not
// allocate.
func decodeRune[T ~string | ~[]byte](s T) (rune, int) {
	if len(s) > utf8.UTFMax {
		s = s[:utf8.UTFMax]
	}
	return utf8.DecodeRuneInString(string(s))
}

// appendText appends s escaped as XML character data. Carriage returns are
// written as character references (a parser would turn a literal one into
// a line feed); invalid UTF-8 and characters XML cannot carry are written
// as U+FFFD, as encoding/xml does.
func appendText[T ~string | ~[]byte](dst []byte, s T) []byte {
	return appendEscaped(dst, s, false)
}

// appendAttr appends s escaped for a double-quoted attribute value. Tabs
// and line feeds are written as references too, since attribute value
// normalization would turn them into spaces.
func appendAttr[T ~string | ~[]byte](dst []byte, s T) []byte {
	return appendEscaped(dst, s, true)
}

func appendEscaped[T ~string | ~[]byte](dst []byte, s T, attr bool) []byte {
	safe := &textSafe
	if attr {
		safe = &attrSafe
	}
	last := 0
	for i := 0; i < len(s); {
		for i < len(s) && safe[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		c := s[i]
		var esc string
		n := 1
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\r':
			esc = "&#xD;"
		case '\n':
			esc = "&#xA;"
		case '\t':
			esc = "&#x9;"
		default:
			if c < utf8.RuneSelf {
				esc = "\uFFFD" // a control character
				break
			}
			r, size := decodeRune(s[i:])
			n = size
			if (r != utf8.RuneError || size != 1) && isXMLChar(r) {
				i += n
				continue
			}
			esc = "\uFFFD"
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		i += n
		last = i
	}
	return append(dst, s[last:]...)
}

// appendCDATA appends b, which must satisfy xmlText, as CDATA sections: the
// text stays readable, and readers that hand out a non-XML content's raw
// inner XML (gofeed does) still get it back clean. A "]]>" inside is split
// across two sections, and a carriage return, which a parser would turn
// into a line feed even inside CDATA, is written as a reference between
// sections.
func appendCDATA(dst, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = append(dst, "<![CDATA["...)
	for {
		i := 0
		for i < len(b) && b[i] != ']' && b[i] != '\r' {
			i++
		}
		if i == len(b) {
			break
		}
		if b[i] == '\r' {
			dst = append(dst, b[:i]...)
			dst = append(dst, "]]>&#xD;<![CDATA["...)
			b = b[i+1:]
			continue
		}
		if bytes.HasPrefix(b[i:], []byte("]]>")) {
			dst = append(dst, b[:i+2]...)
			dst = append(dst, "]]><![CDATA["...)
			b = b[i+2:]
			continue
		}
		dst = append(dst, b[:i+1]...)
		b = b[i+1:]
	}
	dst = append(dst, b...)
	return append(dst, "]]>"...)
}

// inlineXML reports whether b can be written as the inline XML content of
// an atom:content element and read back, byte for byte and with the same
// meaning: one well-formed element and nothing around it (no XML
// declaration, no DOCTYPE, no surrounding white space or comments), and
// every namespace prefix it uses, the default one included, declared
// inside it (otherwise it would pick up the enclosing Atom document's
// bindings). When div is true the element must moreover be an xhtml:div,
// as type="xhtml" requires. It uses the decoder's own tokenizer, so that
// what Encode writes inline is exactly what Decode reads.
func inlineXML(b []byte, div bool) bool {
	if len(b) < 4 || b[0] != '<' || b[len(b)-1] != '>' {
		return false
	}
	d := newBytesDecoder(b)
	declared := func(prefix []byte) bool {
		if string(prefix) == "xml" {
			return true
		}
		for _, bd := range d.bindings {
			if bd.prefix == string(prefix) {
				return true
			}
		}
		return false
	}
	for {
		if err := d.next(); err != nil {
			return false
		}
		switch d.kind {
		case tokStart:
			if len(d.stack) == 1 {
				if d.prev != 0 || div && (d.space != nsXHTML || string(d.local) != "div") {
					return false
				}
			}
			if p, _ := splitName(d.s.name); !declared(p) {
				return false
			}
			for _, a := range d.s.attrs {
				if p, _ := splitName(a.name); p != nil && string(p) != "xmlns" && !declared(p) {
					return false
				}
			}
		case tokEnd:
			if len(d.stack) == 0 {
				return d.s.pos == len(b)
			}
		}
	}
}

const nsXHTML = "http://www.w3.org/1999/xhtml"
