package feed_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
