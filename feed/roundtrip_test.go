package feed_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
)

func TestEncodeDecodePage(t *testing.T) {
	for _, full := range []bool{true, false} {
		want := testPage(2, 20, full)
		doc := encode(t, want)
		got, err := feed.Decode(bytes.NewReader(doc), feed.DecodeOptions{}, nil)
		if err != nil {
			t.Fatalf("Decode: %v\n%s", err, doc)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(Encode(f)):\ngot  %+v\nwant %+v", got, want)
		}
		for i := range got.Entries {
			ev, err := got.Entries[i].Event("orders")
			if err != nil {
				t.Fatalf("Event: %v", err)
			}
			orig := testEvent(got.Entries[i].Seq)
			if !ev.Time.Equal(orig.Time) {
				t.Errorf("entry %d: time got %v, want %v", i, ev.Time, orig.Time)
			}
			ev.Time = orig.Time
			if !reflect.DeepEqual(ev, orig) {
				t.Errorf("entry %d: event got %+v, want %+v", i, ev, orig)
			}
		}
	}
}
