package feed_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
)

// FuzzRoundTrip checks that whatever Decode accepts and Encode can write
// reads back as the same model, and that decoding never panics. The seed
// corpus is the golden and foreign documents of testdata.
func FuzzRoundTrip(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	foreign, _ := filepath.Glob("testdata/foreign/*.xml")
	for _, name := range append(files, foreign...) {
		doc, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc)
	}
	f.Add([]byte(entryDoc(`<content type="application/xml"><a xmlns="urn:a"><!--c--><b/></a></content>`)))
	f.Add([]byte(entryDoc(`<content type="image/png">aGk=</content><ef:seq>9</ef:seq>`)))
	f.Fuzz(func(t *testing.T, doc []byte) {
		first, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{MaxBytes: 1 << 20}, nil)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := feed.Encode(&b, first); err != nil {
			if !errors.Is(err, feed.ErrInvalid) {
				t.Fatalf("Encode: %v", err)
			}
			return
		}
		second, err := feed.Decode(bytes.NewReader(b.Bytes()), feed.DecodeOptions{}, nil)
		if err != nil {
			t.Fatalf("Decode of Encode's output: %v\n%s", err, b.Bytes())
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("round trip changed the model:\nfirst  %+v\nsecond %+v\n%s", first, second, b.Bytes())
		}
	})
}

// FuzzEventRoundTrip checks that any event's data, under any content
// type, comes back byte for byte through EntryFromEvent, Encode, Decode
// and Entry.Event.
func FuzzEventRoundTrip(f *testing.F) {
	for _, ev := range contentEvents() {
		f.Add(ev.ContentType, ev.Data)
	}
	f.Add("application/xml", []byte(`<a xmlns="urn:a"><![CDATA[x]]></a>`))
	f.Fuzz(func(t *testing.T, contentType string, data []byte) {
		ev := testEvent(1)
		ev.ContentType, ev.Data = contentType, data
		if ev.Validate() != nil {
			return
		}
		fd := &feed.Feed{ID: "f", Authors: []feed.Person{{Name: "a"}}, Entries: []feed.Entry{feed.EntryFromEvent(ev, feed.EntryOptions{})}}
		var b bytes.Buffer
		if err := feed.Encode(&b, fd); err != nil {
			t.Fatalf("Encode: %v", err)
		}
		got, err := feed.Decode(&b, feed.DecodeOptions{}, nil)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		back, err := got.Entries[0].Event(ev.Feed)
		if err != nil {
			t.Fatalf("Event: %v", err)
		}
		wantType := ev.MediaType()
		if i := strings.IndexByte(wantType, '/'); i <= 0 || i == len(wantType)-1 {
			wantType = "application/octet-stream"
		}
		// Text and XML that XML cannot carry are written with U+FFFD in
		// place of what it cannot (see Encode); everything else is exact.
		lossy := !feed.Lossless(wantType, data)
		if back.ContentType != wantType || !lossy && !bytes.Equal(back.Data, data) {
			t.Fatalf("got %s %q, want %s %q", back.ContentType, back.Data, wantType, data)
		}
	})
}
