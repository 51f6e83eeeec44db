package poller

import (
	"unicode/utf8"
)

// parseCloudEvents reads a JSON array of CloudEvents as json.Unmarshal
// into a []cloudEvent would, for the shapes servers write, and reports
// false for any other input: then the caller unmarshals it with
// encoding/json, which decides what it means or why it is wrong.
//
// It takes attribute names that are exactly cloudEvent's, strings without
// escapes and in valid UTF-8 for the attributes kept as strings, any valid
// JSON for data, efseq and attributes it does not keep (which it checks
// and skips, as encoding/json does), and a later member of the same name
// over an earlier one. It gives up on escaped or invalid UTF-8 strings
// where a string is kept (encoding/json would unescape them or replace
// bytes), on null, on names that match an attribute only when case is
// folded (encoding/json would take them for it), on nesting deeper than
// maxSkipDepth, and on invalid JSON. FuzzCloudEvents checks that whatever
// it accepts, json.Unmarshal reads the same.
//
// encoding/json validates the whole body in one pass and then decodes it
// in another, through reflection: it was most of the time an HTTPFeed
// spent on a response, for about 1.5 times the Atom decoder's on the same
// events (see BenchmarkDecodeCloudEvents).
func parseCloudEvents(data []byte) ([]cloudEvent, bool) {
	p := ceParser{b: data}
	p.space()
	if !p.take('[') {
		return nil, false
	}
	ces := make([]cloudEvent, 0, 64)
	p.space()
	if p.take(']') {
		return ces, p.end()
	}
	for {
		p.space()
		ces = append(ces, cloudEvent{})
		if !p.object(&ces[len(ces)-1]) {
			return nil, false
		}
		p.space()
		if p.take(']') {
			return ces, p.end()
		}
		if !p.take(',') {
			return nil, false
		}
	}
}

// maxSkipDepth bounds the nesting of the values parseCloudEvents checks;
// deeper ones go to encoding/json, which allows 10,000 levels.
const maxSkipDepth = 64

type ceParser struct {
	b []byte
	i int
	// last holds the value each string attribute had last, by field:
	// most events of a batch share their specversion, type and
	// datacontenttype, which then take no allocation.
	last [7]string
}

// space skips JSON whitespace.
func (p *ceParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// take consumes c if it comes next.
func (p *ceParser) take(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether nothing but whitespace is left.
func (p *ceParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// object reads one CloudEvent object into ce.
func (p *ceParser) object(ce *cloudEvent) bool {
	if !p.take('{') {
		return false
	}
	p.space()
	if p.take('}') {
		return true
	}
	for {
		p.space()
		name, ok := p.plainString()
		if !ok {
			return false
		}
		p.space()
		if !p.take(':') {
			return false
		}
		p.space()
		if !p.member(ce, name) {
			return false
		}
		p.space()
		if p.take('}') {
			return true
		}
		if !p.take(',') {
			return false
		}
	}
}

// member reads the value of the member called name into ce.
func (p *ceParser) member(ce *cloudEvent, name []byte) bool {
	var (
		s *string
		k int // s's index in last
	)
	switch string(name) {
	case "specversion":
		s, k = &ce.SpecVersion, 0
	case "id":
		s, k = &ce.ID, 1
	case "type":
		s, k = &ce.Type, 2
	case "subject":
		s, k = &ce.Subject, 3
	case "time":
		s, k = &ce.Time, 4
	case "datacontenttype":
		s, k = &ce.DataContentType, 5
	case "method":
		s, k = &ce.Method, 6
	case "data_base64":
		v, ok := p.plainString()
		if !ok {
			return false
		}
		str := string(v)
		ce.DataBase64 = &str
		return true
	case "data", "efseq":
		start := p.i
		if p.i < len(p.b) && p.b[p.i] == 'n' || !p.skip(0) {
			return false // null, which encoding/json treats apart
		}
		raw := append([]byte(nil), p.b[start:p.i]...)
		if name[0] == 'd' {
			ce.Data = raw
		} else {
			ce.Seq = raw
		}
		return true
	default:
		if foldsToField(name) {
			return false
		}
		return p.skip(0)
	}
	v, ok := p.plainString()
	if !ok {
		return false
	}
	if string(v) != p.last[k] {
		p.last[k] = string(v)
	}
	*s = p.last[k]
	return true
}

// ceFields are the JSON names of cloudEvent's fields.
var ceFields = [...]string{"specversion", "id", "type", "subject", "time", "datacontenttype", "data", "data_base64", "method", "efseq"}

// foldsToField reports whether encoding/json could take the member name,
// which is not exactly a field's, for one of cloudEvent's fields: it
// matches names case-insensitively, with Unicode's folding (U+017F folds
// to 's', U+212A to 'k'), so any name that is not ASCII counts.
func foldsToField(name []byte) bool {
	for _, c := range name {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	for _, f := range ceFields {
		if len(f) == len(name) && asciiEqualFold(f, name) {
			return true
		}
	}
	return false
}

func asciiEqualFold(s string, b []byte) bool {
	for i := range len(s) {
		c, d := s[i], b[i]
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// plainString reads a string without escapes, in valid UTF-8, and returns
// its contents, which are then what encoding/json would give.
func (p *ceParser) plainString() ([]byte, bool) {
	if !p.take('"') {
		return nil, false
	}
	start, ascii := p.i, true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// skip passes over one JSON value, checking that it is valid, at nesting
// depth.
func (p *ceParser) skip(depth int) bool {
	if p.i >= len(p.b) || depth > maxSkipDepth {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.skipString()
	case c == '{':
		p.i++
		p.space()
		if p.take('}') {
			return true
		}
		for {
			p.space()
			if !p.skipString() {
				return false
			}
			p.space()
			if !p.take(':') {
				return false
			}
			p.space()
			if !p.skip(depth + 1) {
				return false
			}
			p.space()
			if p.take('}') {
				return true
			}
			if !p.take(',') {
				return false
			}
		}
	case c == '[':
		p.i++
		p.space()
		if p.take(']') {
			return true
		}
		for {
			p.space()
			if !p.skip(depth + 1) {
				return false
			}
			p.space()
			if p.take(']') {
				return true
			}
			if !p.take(',') {
				return false
			}
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return false
}

func (p *ceParser) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// skipString passes over a string, checking its escapes. Bytes that are
// not UTF-8 are valid JSON to encoding/json, as here.
func (p *ceParser) skipString() bool {
	if !p.take('"') {
		return false
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			p.i++
			if p.i >= len(p.b) {
				return false
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(p.b)-p.i < 5 {
					return false
				}
				for _, h := range p.b[p.i+1 : p.i+5] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
		p.i++
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number passes over a number as RFC 8259 §6 writes it.
func (p *ceParser) number() bool {
	p.take('-')
	switch {
	case p.take('0'):
	case p.digits() == 0:
		return false
	}
	if p.take('.') && p.digits() == 0 {
		return false
	}
	if p.take('e') || p.take('E') {
		if !p.take('+') {
			p.take('-')
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}

// digits passes over the digits that come next and returns how many.
func (p *ceParser) digits() int {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}
