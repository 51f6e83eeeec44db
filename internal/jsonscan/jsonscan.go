// Package jsonscan checks and compacts JSON (RFC 8259) with the answers of
// encoding/json's Valid and Compact, in a fraction of their time: a loop
// over the bytes instead of a state machine called for each one. It is
// for event data, which the publisher, the stores, the poller and the CLI
// check or compact once per event.
//
// Values nested deeper than MaxDepth are left to encoding/json (which
// allows 10,000 levels), so that the answers stay the same. FuzzValid and
// FuzzCompact check them against encoding/json.
package jsonscan

import (
	"bytes"
	"encoding/json"
)

// MaxDepth is the deepest nesting of arrays and objects the scanner
// follows itself.
const MaxDepth = 64

// Valid reports whether b is one JSON value, with whitespace around it
// allowed, as json.Valid does. As there, bytes that are not UTF-8 may
// appear in strings.
func Valid(b []byte) bool {
	s := scanner{b: b}
	s.space()
	switch s.value(0) {
	case deep:
		return json.Valid(b)
	case invalid:
		return false
	}
	s.space()
	return s.i == len(b)
}

// AppendCompact appends src to dst without the whitespace between its
// tokens and around it, as json.Compact does, and reports whether src is
// one valid JSON value. When it is not, dst is returned as it was.
func AppendCompact(dst, src []byte) ([]byte, bool) {
	s := scanner{b: src}
	s.space()
	start := s.i
	s.spaced = false
	r := s.value(0)
	end := s.i
	if r == valid {
		s.space()
		if s.i != len(src) {
			r = invalid
		}
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

// Skip returns the index just after the JSON value that starts at b[i]
// (no whitespace before it), or false when there is none or it is nested
// deeper than MaxDepth.
func Skip(b []byte, i int) (int, bool) {
	s := scanner{b: b, i: i}
	if s.value(0) != valid {
		return i, false
	}
	return s.i, true
}

// result is the outcome of scanning a value.
type result uint8

const (
	valid result = iota
	invalid
	deep // nested deeper than MaxDepth: undecided
)

type scanner struct {
	b      []byte
	i      int
	spaced bool // space skipped some whitespace
}

// space skips JSON whitespace.
func (s *scanner) space() {
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

// take consumes c if it comes next.
func (s *scanner) take(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// value passes over one value at nesting depth.
func (s *scanner) value(depth int) result {
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
		s.space()
		if s.take('}') {
			return valid
		}
		for {
			s.space()
			if r := s.string(); r != valid {
				return r
			}
			s.space()
			if !s.take(':') {
				return invalid
			}
			s.space()
			if r := s.value(depth + 1); r != valid {
				return r
			}
			s.space()
			if s.take('}') {
				return valid
			}
			if !s.take(',') {
				return invalid
			}
		}
	case c == '[':
		if depth >= MaxDepth {
			return deep
		}
		s.i++
		s.space()
		if s.take(']') {
			return valid
		}
		for {
			s.space()
			if r := s.value(depth + 1); r != valid {
				return r
			}
			s.space()
			if s.take(']') {
				return valid
			}
			if !s.take(',') {
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

func (s *scanner) literal(lit string) result {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return valid
	}
	return invalid
}

// string passes over a string, checking its escapes.
func (s *scanner) string() result {
	if !s.take('"') {
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
func (s *scanner) number() result {
	s.take('-')
	switch {
	case s.take('0'):
	case s.digits() == 0:
		return invalid
	}
	if s.take('.') && s.digits() == 0 {
		return invalid
	}
	if s.take('e') || s.take('E') {
		if !s.take('+') {
			s.take('-')
		}
		if s.digits() == 0 {
			return invalid
		}
	}
	return valid
}

// digits passes over the digits that come next and returns how many.
func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
