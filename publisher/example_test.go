package publisher_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// A publisher over an in-memory log, mounted under /feeds/: the
// subscription document holds the working page's entries and links to the
// archive pages before it.
func ExampleNew() {
	ctx := context.Background()
	log := memory.NewLog(memory.Options{PageSize: 2})
	defer log.Close()
	for i := 1; i <= 3; i++ {
		log.Append(ctx, eventfeed.Event{
			Feed:    "orders",
			ID:      fmt.Sprintf("urn:example:order-%d", i),
			Type:    "order.placed",
			Subject: fmt.Sprintf("order-%d", i),
			Data:    []byte(fmt.Sprintf(`{"total":%d}`, 10*i)),
		})
	}

	h, err := publisher.New(log, publisher.Config{Title: "Shop"})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/feeds/orders")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	doc, err := feed.Decode(resp.Body, feed.DecodeOptions{}, nil)
	if err != nil {
		panic(err)
	}
	f, _ := log.Feed(ctx, "orders")

	fmt.Println(resp.Status, resp.Header.Get("Content-Type"))
	fmt.Println("Cache-Control:", resp.Header.Get("Cache-Control"))
	fmt.Println(doc.Title)
	for _, l := range doc.Links {
		fmt.Printf("%-12s %s\n", l.Rel, strings.ReplaceAll(l.Href, f.Epoch, "{epoch}"))
	}
	for _, e := range doc.Entries {
		fmt.Println(e.Seq, e.Title, string(e.Content.Body))
	}
	// Output:
	// 200 OK application/atom+xml
	// Cache-Control: public, max-age=0, must-revalidate
	// Shop: orders
	// self         orders
	// current      orders
	// via          orders/{epoch}/pages/2
	// first        orders/{epoch}/pages/1
	// prev-archive orders/{epoch}/pages/1
	// alternate    orders/rss
	// alternate    orders/json
	// alternate    orders/events
	// 3 order.placed order-3 {"total":30}
}

// Appending over HTTP: an authorizer enables POST, and the event's data
// goes as the body with its type in a header.
func ExampleNew_append() {
	log := memory.NewLog(memory.Options{})
	defer log.Close()
	h, err := publisher.New(log, publisher.Config{
		Authorize: func(r *http.Request, feed string) error {
			if r.Header.Get("Authorization") != "Bearer secret" {
				return publisher.ErrUnauthorized
			}
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	srv := httptest.NewServer(http.StripPrefix("/feeds", h))
	defer srv.Close()

	for _, token := range []string{"wrong", "secret", "secret"} {
		req, _ := http.NewRequest("POST", srv.URL+"/feeds/orders", strings.NewReader(`{"total":10}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(publisher.HeaderEventType, "order.placed")
		req.Header.Set(publisher.HeaderIdempotencyKey, "order-1-placed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if i := strings.Index(loc, "/entries/"); i >= 0 {
			loc = "…" + loc[i:]
		}
		fmt.Println(strings.TrimSpace(resp.Status + " " + loc))
	}
	f, _ := log.Feed(context.Background(), "orders")
	fmt.Println("head:", f.Head)
	// Output:
	// 401 Unauthorized
	// 201 Created …/entries/1
	// 201 Created …/entries/1
	// head: 1
}
