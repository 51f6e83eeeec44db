// Package jsonscan checks and compacts JSON (RFC 8259) with the answers of
// encoding/json's Valid and Compact, in a fraction of their time: a loop
// over the bytes instead of a state machine called for each one. It is
// for event data, which the publisher, the stores, the poller and the CLI
// check or compact once per event.
//
// Values nested deeper than MaxDepth are left to encoding/json (which
// allows 10,000 levels), so that the answers stay the same. FuzzValid and
// FuzzCompact check them against encoding/json. A Scanner serves parsers
// of one shape of document, such as the poller's of CloudEvents batches.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects the scanner
// follows itself.
const MaxDepth = 64

// Valid reports whether b is one JSON value, with whitespace around it
// allowed, as json.Valid does. As there, bytes that are not UTF-8 may
// appear in strings.
func Valid(b []byte) bool {
	s := Scanner{b: b}
	s.Space()
	switch s.value(0) {
	case deep:
		return json.Valid(b)
	case invalid:
		return false
	}
	return s.End()
}

// AppendCompact appends src to dst without the whitespace between its
// tokens and around it, as json.Compact does, and reports whether src is
// one valid JSON value. When it is not, dst is returned as it was.
func AppendCompact(dst, src []byte) ([]byte, bool) {
	s := Scanner{b: src}
	s.Space()
	start := s.i
	s.spaced = false
	r := s.value(0)
	end := s.i
	if r == valid && !s.End() {
		r = invalid
	}
	switch {
	case r == invalid:
		return dst, false
	case r == valid && !s.spaced:
		// Already compact, as data mostly is.
		return append(dst, src[start:end]...), true
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, src); err != nil {
		return dst, false
	}
	return buf.Bytes(), true
}

// result is the outcome of scanning a value.
type result uint8

const (
	valid result = iota
	invalid
	deep // nested deeper than MaxDepth: undecided
)

// A Scanner reads a JSON text token by token, for parsers of one shape of
// document that leave any other to encoding/json.
type Scanner struct {
	b      []byte
	i      int
	spaced bool // Space skipped some whitespace
}

// NewScanner returns a Scanner at the start of b.
func NewScanner(b []byte) Scanner { return Scanner{b: b} }

// Space skips JSON whitespace.
func (s *Scanner) Space() {
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
			continue
		}
		break
	}
	if s.i != start {
		s.spaced = true
	}
}

// Take consumes c if it comes next.
func (s *Scanner) Take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// Peek returns the byte that comes next, 0 at the end.
func (s *Scanner) Peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// End skips whitespace and reports whether nothing else is left.
func (s *Scanner) End() bool {
	s.Space()
	return s.i == len(s.b)
}

// Value passes over the JSON value that comes next (no whitespace before
// it) and returns its bytes, which alias the text; false when there is no
// valid value there, or it is nested deeper than MaxDepth.
func (s *Scanner) Value() ([]byte, bool) {
	start := s.i
	if s.value(0) != valid {
		return nil, false
	}
	return s.b[start:s.i], true
}

// PlainString reads a string without escapes, in valid UTF-8, and returns
// its contents, which alias the text and are what encoding/json would
// give; false for any other string, or none.
func (s *Scanner) PlainString() ([]byte, bool) {
	if !s.Take('"') {
		return nil, false
	}
	start, ascii := s.i, true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			str := s.b[start:s.i]
			s.i++
			return str, ascii || utf8.Valid(str)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	return nil, false
}

// value passes over one value at nesting depth.
func (s *Scanner) value(depth int) result {
	if s.i >= len(s.b) {
		return invalid
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.string()
	case c == '{':
		if depth >= MaxDepth {
			return deep
		}
		s.i++
		s.Space()
		if s.Take('}') {
			return valid
		}
		for {
			s.Space()
			if r := s.string(); r != valid {
				return r
			}
			s.Space()
			if !s.Take(':') {
				return invalid
			}
			s.Space()
			if r := s.value(depth + 1); r != valid {
				return r
			}
			s.Space()
			if s.Take('}') {
				return valid
			}
			if !s.Take(',') {
				return invalid
			}
		}
	case c == '[':
		if depth >= MaxDepth {
			return deep
		}
		s.i++
		s.Space()
		if s.Take(']') {
			return valid
		}
		for {
			s.Space()
			if r := s.value(depth + 1); r != valid {
				return r
			}
			s.Space()
			if s.Take(']') {
				return valid
			}
			if !s.Take(',') {
				return invalid
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return invalid
}

func (s *Scanner) literal(lit string) result {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return valid
	}
	return invalid
}

// string passes over a string, checking its escapes.
func (s *Scanner) string() result {
	if !s.Take('"') {
		return invalid
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return valid
		case c < 0x20:
			return invalid
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return invalid
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(s.b)-s.i < 5 {
					return invalid
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return invalid
					}
				}
				s.i += 4
			default:
				return invalid
			}
		}
		s.i++
	}
	return invalid
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number passes over a number as RFC 8259 §6 writes it.
func (s *Scanner) number() result {
	s.Take('-')
	switch {
	case s.Take('0'):
	case s.digits() == 0:
		return invalid
	}
	if s.Take('.') && s.digits() == 0 {
		return invalid
	}
	if s.Take('e') || s.Take('E') {
		if !s.Take('+') {
			s.Take('-')
		}
		if s.digits() == 0 {
			return invalid
		}
	}
	return valid
}

// digits passes over the digits that come next and returns how many.
func (s *Scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
