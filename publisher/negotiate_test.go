package publisher

import (
	"net/http"
	"testing"
)

func header(name string, values ...string) http.Header {
	if len(values) == 0 {
		return http.Header{}
	}
	return http.Header{name: values}
}

func TestAcceptsGzip(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   coding
	}{
		{nil, identity},
		{[]string{""}, identity},
		{[]string{"gzip"}, gzipped},
		{[]string{"GZIP"}, gzipped},
		{[]string{"gzip, deflate, br"}, gzipped},
		{[]string{"br;q=1.0, gzip;q=0.8, *;q=0.1"}, gzipped},
		{[]string{"deflate", "gzip"}, gzipped},
		{[]string{"gzip;q=0"}, identity},
		{[]string{"gzip;q=0.000"}, identity},
		{[]string{"gzip ; q=0"}, identity},
		{[]string{"*"}, gzipped},
		{[]string{"*;q=0"}, identity},
		{[]string{"*;q=0, identity"}, identity},
		{[]string{"gzip;q=0.5, identity;q=0.9"}, identity},
		{[]string{"gzip;q=0.9, identity;q=0.5"}, gzipped},
		{[]string{"gzip;q=0, *"}, identity},
		{[]string{"x-gzip"}, gzipped},
		{[]string{"deflate"}, identity},
		{[]string{"gzip;q=2"}, identity}, // malformed q-value: 0
		{[]string{"gzip;q=abc"}, identity},
	} {
		if got := acceptsGzip(header("Accept-Encoding", tt.values...)); got != tt.want {
			t.Errorf("Accept-Encoding %q: got %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		want    format
	}{
		{"GET /{feed}", formatAtom},
		{"GET /{feed}/{epoch}/pages/{k}", formatAtom},
		{"GET /feeds/{feed}/{epoch}/entries/{seq}", formatAtom},
		{"GET /{feed}/rss", formatRSS},
		{"GET /feeds/{feed}/json", formatJSON},
		{"GET /{feed}/{epoch}/rss/{k}", formatRSS},
		{"GET /feeds/{feed}/{epoch}/json/{k}", formatJSON},
		{"GET /rss/{feed}", formatAtom},
	} {
		r := &http.Request{Pattern: tt.pattern, Header: header("Accept", "application/rss+xml")}
		if got := formatOf(r); got != tt.want {
			t.Errorf("pattern %q: got %v, want %v", tt.pattern, got, tt.want)
		}
	}
}

func TestPreferWait(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   int
	}{
		{nil, -1},
		{[]string{"wait=10"}, 10},
		{[]string{"WAIT=10"}, 10},
		{[]string{`wait="7"`}, 7},
		{[]string{"respond-async, wait=5"}, 5},
		{[]string{"return=minimal", "wait=3; foo=bar"}, 3},
		{[]string{" wait = 4 "}, 4},
		{[]string{"wait=0"}, 0},
		{[]string{"wait=-1"}, -1},
		{[]string{"wait=abc"}, -1},
		{[]string{"wait"}, -1},
		{[]string{"waiting=3"}, -1},
		{[]string{"wait=99999999999"}, -1},
	} {
		if got := preferWait(header("Prefer", tt.values...)); got != tt.want {
			t.Errorf("Prefer %q: got %d, want %d", tt.values, got, tt.want)
		}
	}
}

func TestEtagMatch(t *testing.T) {
	const tag = `"abc.1"`
	for _, tt := range []struct {
		values []string
		want   bool
	}{
		{[]string{`"abc.1"`}, true},
		{[]string{`W/"abc.1"`}, true},
		{[]string{`"x", "abc.1"`}, true},
		{[]string{`"x"`, `"abc.1"`}, true},
		{[]string{`"x",W/"abc.1"`}, true},
		{[]string{"*"}, true},
		{[]string{`"abc"`}, false},
		{[]string{`"abc.1-gz"`}, false},
		{[]string{`abc.1`}, false},
		{[]string{`"abc.1`}, false},
		{[]string{`junk, "abc.1"`}, true},
		{[]string{""}, false},
		{[]string{`"a,b", "abc.1"`}, true},
	} {
		if got := etagMatch(tt.values, tag); got != tt.want {
			t.Errorf("If-None-Match %q against %s: got %v, want %v", tt.values, tag, got, tt.want)
		}
	}
}

func TestParsePos(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want uint64
		ok   bool
	}{
		{"1", 1, true},
		{"42", 42, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"0", 0, false},
		{"01", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1a", 0, false},
		{"", 0, false},
		{" 1", 0, false},
	} {
		got, ok := parsePos(tt.s)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parsePos(%q) = %d, %v; want %d, %v", tt.s, got, ok, tt.want, tt.ok)
		}
	}
}

func TestIdempotencyKey(t *testing.T) {
	for _, tt := range []struct {
		value, want string
		err         bool
	}{
		{"", "", false},
		{"abc-1", "abc-1", false},
		{`"abc-1"`, "abc-1", false},
		{`"a\"b"`, `a"b`, false},
		{`"abc`, "", true},
	} {
		got, err := idempotencyKey(header("Idempotency-Key", tt.value))
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Idempotency-Key %q: got %q, %v; want %q, error %v", tt.value, got, err, tt.want, tt.err)
		}
	}
}
