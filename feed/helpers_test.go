package feed_test

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
)

// base is the fixed time the test events start at.
var base = time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)

// testEvent returns event seq of a test feed, with a JSON payload of about
// 300 bytes.
func testEvent(seq uint64) eventfeed.Event {
	data := fmt.Sprintf(`{"order":"order-%d","customer":"customer-%d","lines":[{"sku":"SKU-%05d","qty":%d,"price":"%d.99"},{"sku":"SKU-%05d","qty":1,"price":"4.50"}],"currency":"EUR","shipTo":{"street":"Rue de la Paix %d","city":"Paris","zip":"75002","country":"FR"},"note":"leave at the door <not the window> & ring"}`,
		seq, seq%97, seq%1000, seq%5+1, seq%50, (seq+7)%1000, seq%200)
	return eventfeed.Event{
		Feed:        "orders",
		Seq:         seq,
		ID:          fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", seq),
		Type:        "order.placed",
		Subject:     "order-" + strconv.FormatUint(seq, 10),
		Time:        base.Add(time.Duration(seq) * 1500 * time.Millisecond),
		ContentType: "application/json",
		Data:        []byte(data),
	}
}

// testPage returns page k of a feed of size entries per page, as the
// publisher would build it: full pages are archives with next-archive.
func testPage(k, size int, full bool) *feed.Feed {
	const root = "https://example.com/feeds/orders"
	page := func(n int) string { return root + "/e1/pages/" + strconv.Itoa(n) }
	f := &feed.Feed{
		ID:      "urn:eventfeed:orders:e1:page:" + strconv.Itoa(k),
		Title:   "orders",
		Authors: []feed.Person{{Name: "orders", URI: "https://example.com/"}},
		Archive: full,
		Links: []feed.Link{
			{Rel: feed.RelSelf, Href: page(k), Type: feed.MediaTypeFeed},
			{Rel: feed.RelCurrent, Href: root, Type: feed.MediaTypeFeed},
		},
	}
	if k > 1 {
		f.Links = append(f.Links, feed.Link{Rel: feed.RelPrevArchive, Href: page(k - 1), Type: feed.MediaTypeFeed})
	}
	if full {
		f.Links = append(f.Links, feed.Link{Rel: feed.RelNextArchive, Href: page(k + 1), Type: feed.MediaTypeFeed})
	}
	n := size
	if !full {
		n = size / 2
	}
	first := uint64((k-1)*size + 1)
	for seq := first; seq < first+uint64(n); seq++ {
		e := feed.EntryFromEvent(testEvent(seq), feed.EntryOptions{})
		e.Links = []feed.Link{{Rel: feed.RelSelf, Href: root + "/e1/entries/" + strconv.FormatUint(seq, 10), Type: feed.MediaTypeEntry}}
		f.Entries = append(f.Entries, e)
		f.Updated = e.Updated
	}
	return f
}

func encode(t testing.TB, f *feed.Feed) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := feed.Encode(&b, f); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b.Bytes()
}
