package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/eventfeed/eventfeed/internal/jsonscan"
)

// appendLine appends l to dst as encoding/json writes it with
// SetEscapeHTML(false), newline included: the same bytes, without
// reflection, an Encoder per line, or validating JSON data twice (once to
// choose how to print it, once to compact it). l.Data is a string, or a
// json.RawMessage that is not checked before (see dataJSON). It reports
// false, with dst as it was, when l.Data is not valid JSON.
//
// TestLineEncoding compares it with encoding/json, for every field of line.
func appendLine(dst []byte, l *line) ([]byte, bool) {
	start := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, l.ID)
	if l.Seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, l.Seq, 10)
	}
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, l.Type)
	dst = append(dst, `,"subject":`...)
	dst = appendString(dst, l.Subject)
	dst = append(dst, `,"time":`...)
	dst = appendString(dst, l.Time)
	dst = append(dst, `,"contentType":`...)
	dst = appendString(dst, l.ContentType)
	dst = append(dst, `,"data":`...)
	switch d := l.Data.(type) {
	case json.RawMessage:
		// AppendCompact validates as it goes, and leaves dst as it was
		// when the data is not JSON.
		var ok bool
		if dst, ok = jsonscan.AppendCompact(dst, d); !ok {
			return dst[:start], false
		}
	case string:
		dst = appendString(dst, d)
	case nil:
		dst = append(dst, "null"...) // an erased event's
	default:
		enc, _ := json.Marshal(d) // not reached: print sets a string or JSON
		dst = append(dst, enc...)
	}
	if l.Erased {
		dst = append(dst, `,"erased":true`...)
	}
	return append(dst, "}\n"...), true
}

// appendString appends s as a JSON string, as encoding/json writes it
// without HTML escaping: the common case, printable ASCII without quote
// or backslash, as it is; anything else through encoding/json itself.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.Encode(s) // a string cannot fail
			return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
