package main

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"testing"

	"github.com/eventfeed/eventfeed"
)

// TestLineEncoding checks that appendLine writes what encoding/json writes
// (with SetEscapeHTML(false)) for lines whose every field is set, in the
// forms strings and data take.
func TestLineEncoding(t *testing.T) {
	odd := "a\"b\\c<d>&e\x01\n\t\u2028\u2029é\xff😀"
	full := line{ID: "urn:uuid:1", Seq: 7, Type: "order.placed", Subject: "order-1", Time: "2026-12-02T16:00:00.123456789Z",
		ContentType: "application/json", Data: json.RawMessage(`{ "a" : [1, 2], "s": "x<y>&\u00e9" }`), Erased: true}
	// A field added to line and not written by appendLine fails here.
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("field %s of line is not set by this test: set it, and have appendLine write it", v.Type().Field(i).Name)
		}
	}
	lines := []line{
		full,
		{ID: "urn:2", Type: "t", Time: "2026-12-02T16:00:00Z", ContentType: "text/plain", Data: "plain text"},
		{ID: odd, Seq: 1 << 60, Type: odd, Subject: odd, Time: odd, ContentType: odd, Data: odd},
		{ID: "urn:3", ContentType: "application/json", Data: json.RawMessage(`"str"`)},
		{ID: "urn:4", ContentType: "application/octet-stream", Data: "AAEC/w=="},
		{ID: "urn:6", Subject: "ada", ContentType: "application/jose", Erased: true},
		{},
	}
	for _, l := range lines {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
		got, ok := appendLine([]byte("prefix"), &l)
		if !ok || string(got) != "prefix"+want.String() {
			t.Errorf("appendLine(%+v):\ngot  %q (%v)\nwant %q", l, got, ok, "prefix"+want.String())
		}
	}
	for _, bad := range []string{"", "{", `{"a":1}x`, "nope"} {
		l := line{ID: "urn:5", Data: json.RawMessage(bad)}
		if got, ok := appendLine([]byte("prefix"), &l); ok || string(got) != "prefix" {
			t.Errorf("appendLine with data %q: got %q, %v; want prefix, false", bad, got, ok)
		}
	}
}

// BenchmarkTailPrint prints events like those "eventfeed seed" appends
// (about 300 bytes of JSON) as tail does, a batch of 500 at a time.
func BenchmarkTailPrint(b *testing.B) {
	events := make([]eventfeed.Event, 500)
	for i := range events {
		events[i] = seedEvent("bench", i, 300)
		events[i].Seq = uint64(i + 1)
	}
	pr := &printer{out: io.Discard}
	b.ReportAllocs()
	b.SetBytes(int64(len(events[0].Data)))
	for i := 0; b.Loop(); i++ {
		if err := pr.print(events[i%len(events)]); err != nil {
			b.Fatal(err)
		}
		if i%len(events) == len(events)-1 {
			if err := pr.flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
