package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// cases are inputs valid and not, for the tests and the fuzzers' seeds.
var cases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `-0.0e-0`, `1E+9`, `123.456`, `true`, `false`, `null`,
	` {"a" : [1, 2.5, -3e3, true, false, null, "x", {}, []] } `,
	"\t\r\n[\n1\n]\n",
	`{"order":"order-1","items":[{"sku":"sku-1","qty":2}],"note":"\"quoted\" \\ \/ \b\f\n\r\t \u00e9\uD83D\uDE00"}`,
	"\"\xff\xfe\"", "\"\u2028\"", `"<&>"`,
	``, ` `, `{`, `}`, `[`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `{"a" 1}`,
	`01`, `-`, `1.`, `.1`, `1e`, `1e+`, `+1`, `0x1`, `NaN`, `tru`, `truex`, `nul`, `[1 2]`, `1 2`, `{}{}`,
	"\"a\x01b\"", `"\x"`, `"\u12"`, `"\u12G4"`, `"abc`, `"\`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	strings.Repeat(`{"a":`, MaxDepth+5) + "1" + strings.Repeat("}", MaxDepth+5),
	strings.Repeat("[", MaxDepth+5) + strings.Repeat("]", MaxDepth+4),
}

func TestValid(t *testing.T) {
	for _, c := range cases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

func TestAppendCompact(t *testing.T) {
	for _, c := range cases {
		checkCompact(t, []byte(c))
	}
}

func TestScanner(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{`{"a":1} ,`, `{"a":1}`, true},
		{`[1, "]"] y`, `[1, "]"]`, true},
		{`-1.5e3,`, `-1.5e3`, true},
		{`[1,`, ``, false},
		{` 1`, ``, false}, // whitespace before the value
		{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), ``, false},
	} {
		s := NewScanner([]byte(tt.in))
		if v, ok := s.Value(); ok != tt.ok || ok && string(v) != tt.want {
			t.Errorf("Value of %q = %q, %v; want %q, %v", tt.in, v, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{`"abc"x`, `abc`, true},
		{`"é日本"`, `é日本`, true},
		{`""`, ``, true},
		{`"a\"b"`, ``, false},
		{"\"a\xffb\"", ``, false},
		{"\"a\tb\"", ``, false},
		{`"abc`, ``, false},
		{`abc`, ``, false},
	} {
		s := NewScanner([]byte(tt.in))
		if v, ok := s.PlainString(); ok != tt.ok || ok && string(v) != tt.want {
			t.Errorf("PlainString of %q = %q, %v; want %q, %v", tt.in, v, ok, tt.want, tt.ok)
		}
	}
	s := NewScanner([]byte(" \n[ ] "))
	s.Space()
	if s.Peek() != '[' || !s.Take('[') || s.Take(']') || s.End() {
		t.Errorf("Space, Peek, Take and End disagree on %q", " \n[ ] ")
	}
	if !s.Take(']') || !s.End() || s.Peek() != 0 {
		t.Errorf("End after the last token is false")
	}
}

// checkCompact fails t unless AppendCompact answers as json.Compact, and
// leaves what it appends to alone.
func checkCompact(t *testing.T, src []byte) {
	t.Helper()
	prefix := []byte("prefix")
	got, ok := AppendCompact(append([]byte(nil), prefix...), src)
	var want bytes.Buffer
	want.WriteString("prefix")
	err := json.Compact(&want, src)
	if ok != (err == nil) {
		t.Fatalf("AppendCompact(%q) reports %v, json.Compact: %v", src, ok, err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("AppendCompact(%q) = %q, json.Compact gives %q", src, got, want.Bytes())
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

func FuzzCompact(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkCompact(t, b)
	})
}

// benchData is about 300 bytes of JSON, as the benchmarks' events carry.
var benchData = []byte(`{"order":"order-000000","customer":"customer-4711","items":[{"sku":"sku-1","qty":2,"price":"19.90"},{"sku":"sku-2","qty":1,"price":"5.00"}],"total":"44.80","currency":"EUR","shipping":{"street":"Hauptstrasse 1","city":"Berlin","zip":"10115"},"note":"leave at the door"}`)

func BenchmarkValid(b *testing.B) {
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(benchData)))
		for b.Loop() {
			if !Valid(benchData) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(benchData)))
		for b.Loop() {
			if !json.Valid(benchData) {
				b.Fatal("invalid")
			}
		}
	})
}

func BenchmarkCompact(b *testing.B) {
	dst := make([]byte, 0, 1024)
	b.Run("jsonscan", func(b *testing.B) {
		b.SetBytes(int64(len(benchData)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := AppendCompact(dst[:0], benchData); !ok {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(benchData)))
		b.ReportAllocs()
		for b.Loop() {
			if err := json.Compact(bytes.NewBuffer(dst[:0]), benchData); err != nil {
				b.Fatal(err)
			}
		}
	})
}
