package poller

import (
	"unicode/utf8"

	"github.com/eventfeed/eventfeed/internal/jsonscan"
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
// jsonscan.MaxDepth, and on invalid JSON. FuzzCloudEvents checks that whatever
// it accepts, json.Unmarshal reads the same.
//
// encoding/json validates the whole body in one pass and then decodes it
// in another, through reflection: it was most of the time an HTTPFeed
// spent on a response. BenchmarkDecodeCloudEvents, 500 events as the
// publisher writes them: 1.53 ms with encoding/json, 0.32 ms here.
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
		if p.i < len(p.b) && p.b[p.i] == 'n' {
			return false // null, which encoding/json treats apart
		}
		start := p.i
		if !p.skip() {
			return false
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
		return p.skip()
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

// skip passes over one JSON value, checking that it is valid.
func (p *ceParser) skip() bool {
	end, ok := jsonscan.Skip(p.b, p.i)
	p.i = end
	return ok
}
