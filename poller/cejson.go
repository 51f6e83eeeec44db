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
	p := ceParser{Scanner: jsonscan.NewScanner(data)}
	p.Space()
	if !p.Take('[') {
		return nil, false
	}
	ces := make([]cloudEvent, 0, 64)
	p.Space()
	if p.Take(']') {
		return ces, p.End()
	}
	for {
		p.Space()
		ces = append(ces, cloudEvent{})
		if !p.object(&ces[len(ces)-1]) {
			return nil, false
		}
		p.Space()
		if p.Take(']') {
			return ces, p.End()
		}
		if !p.Take(',') {
			return nil, false
		}
	}
}

type ceParser struct {
	jsonscan.Scanner
	// last holds the value each string attribute had last, by field:
	// most events of a batch share their specversion, type and
	// datacontenttype, which then take no allocation.
	last [7]string
}

// object reads one CloudEvent object into ce.
func (p *ceParser) object(ce *cloudEvent) bool {
	if !p.Take('{') {
		return false
	}
	p.Space()
	if p.Take('}') {
		return true
	}
	for {
		p.Space()
		name, ok := p.PlainString()
		if !ok {
			return false
		}
		p.Space()
		if !p.Take(':') {
			return false
		}
		p.Space()
		if !p.member(ce, name) {
			return false
		}
		p.Space()
		if p.Take('}') {
			return true
		}
		if !p.Take(',') {
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
		v, ok := p.PlainString()
		if !ok {
			return false
		}
		str := string(v)
		ce.DataBase64 = &str
		return true
	case "data", "efseq":
		if p.Peek() == 'n' {
			return false // null, which encoding/json treats apart
		}
		v, ok := p.Value()
		if !ok {
			return false
		}
		raw := append([]byte(nil), v...)
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
		_, ok := p.Value()
		return ok
	}
	v, ok := p.PlainString()
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
