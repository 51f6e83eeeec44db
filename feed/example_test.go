package feed_test

import (
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
)

func ExampleEncode() {
	ev := eventfeed.Event{
		Feed:        "orders",
		Seq:         1,
		ID:          "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
		Type:        "order.placed",
		Subject:     "order-1",
		Time:        time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC),
		ContentType: "application/json",
		Data:        []byte(`{"total":"9.99"}`),
	}
	e := feed.EntryFromEvent(ev, feed.EntryOptions{})
	e.Links = []feed.Link{{Rel: feed.RelSelf, Href: "https://example.com/feeds/orders/e1/entries/1"}}
	f := &feed.Feed{
		ID:      "urn:eventfeed:orders:e1:page:1",
		Title:   "orders",
		Updated: ev.Time,
		Authors: []feed.Person{{Name: "orders"}},
		Links: []feed.Link{
			{Rel: feed.RelSelf, Href: "https://example.com/feeds/orders/e1/pages/1"},
			{Rel: feed.RelCurrent, Href: "https://example.com/feeds/orders"},
		},
		Entries: []feed.Entry{e},
	}
	if err := feed.Encode(os.Stdout, f); err != nil {
		log.Fatal(err)
	}
	// Output:
	// <?xml version="1.0" encoding="utf-8"?>
	// <feed xmlns="http://www.w3.org/2005/Atom" xmlns:ef="https://github.com/eventfeed/eventfeed/ns/1">
	//   <id>urn:eventfeed:orders:e1:page:1</id>
	//   <title>orders</title>
	//   <updated>2026-11-26T09:30:00Z</updated>
	//   <author><name>orders</name></author>
	//   <link rel="self" href="https://example.com/feeds/orders/e1/pages/1"/>
	//   <link rel="current" href="https://example.com/feeds/orders"/>
	//   <entry>
	//     <id>urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66</id>
	//     <title>order.placed order-1</title>
	//     <updated>2026-11-26T09:30:00Z</updated>
	//     <published>2026-11-26T09:30:00Z</published>
	//     <link rel="self" href="https://example.com/feeds/orders/e1/entries/1"/>
	//     <category term="order.placed" scheme="https://github.com/eventfeed/eventfeed/ns/1/type"/>
	//     <summary>order.placed order-1</summary>
	//     <ef:seq>1</ef:seq>
	//     <ef:subject>order-1</ef:subject>
	//     <content type="application/json">eyJ0b3RhbCI6IjkuOTkifQ==</content>
	//   </entry>
	// </feed>
}

func ExampleDecode() {
	doc := `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:ef="https://github.com/eventfeed/eventfeed/ns/1">
  <id>urn:eventfeed:orders:e1:page:1</id>
  <title>orders</title>
  <updated>2026-11-26T09:31:00Z</updated>
  <author><name>orders</name></author>
  <link rel="self" href="https://example.com/feeds/orders/e1/pages/1"/>
  <link rel="next-archive" href="https://example.com/feeds/orders/e1/pages/2"/>
  <entry>
    <id>urn:uuid:1</id>
    <title>order.placed order-1</title>
    <updated>2026-11-26T09:30:00Z</updated>
    <category term="order.placed"/>
    <ef:seq>1</ef:seq>
    <ef:subject>order-1</ef:subject>
    <content type="application/json">eyJ0b3RhbCI6IjkuOTkifQ==</content>
  </entry>
  <entry>
    <id>urn:uuid:2</id>
    <title>order.shipped order-1</title>
    <updated>2026-11-26T09:31:00Z</updated>
    <category term="order.shipped"/>
    <ef:seq>2</ef:seq>
    <ef:subject>order-1</ef:subject>
    <content type="application/json">{"carrier":"&lt;post&gt;"}</content>
  </entry>
</feed>`
	f, err := feed.Decode(strings.NewReader(doc), feed.DecodeOptions{}, func(e *feed.Entry) error {
		ev, err := e.Event("orders")
		if err != nil {
			return err
		}
		fmt.Println(ev.Seq, ev.Type, ev.Subject, ev.ContentType, string(ev.Data))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next:", f.Link(feed.RelNextArchive))
	// Output:
	// 1 order.placed order-1 application/json {"total":"9.99"}
	// 2 order.shipped order-1 application/json {"carrier":"<post>"}
	// next: https://example.com/feeds/orders/e1/pages/2
}
