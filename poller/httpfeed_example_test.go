package poller_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store/memory"
)

// An HTTPFeed follows an http-feed, here a static server in the shape of
// the spec's example that deletes a subject at the end, into a replica.
// The deletion arrives as an event of Type poller.TypeDeleted.
func ExampleHTTPFeed() {
	batches := map[string]string{
		"": `[{"specversion":"1.0","type":"org.example.inventory","source":"https://example.org/inventory",
		       "id":"1c6b8c6e","time":"2021-01-01T00:00:01Z","subject":"9521234567899","data":{"quantity":5}},
		      {"specversion":"1.0","type":"org.example.inventory","source":"https://example.org/inventory",
		       "id":"292042fb","time":"2021-01-01T00:00:15Z","subject":"9521234512349","data":{"quantity":0}}]`,
		"292042fb": `[{"specversion":"1.0","type":"org.example.inventory","source":"https://example.org/inventory",
		       "id":"06b13630","time":"2021-12-31T00:00:01Z","subject":"9521234567899","method":"DELETE"}]`,
		"06b13630": `[]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/cloudevents-batch+json")
		fmt.Fprint(w, batches[r.URL.Query().Get("lastEventId")])
	}))
	defer srv.Close()

	replica := memory.NewReplica(func(ev eventfeed.Event) error {
		fmt.Printf("%s %s %s %s\n", ev.ID, ev.Type, ev.Subject, ev.Data)
		return nil
	})
	f, err := poller.NewHTTPFeed(srv.URL+"/inventory", replica, poller.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := f.Sync(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println("checkpoint:", f.Stats().Checkpoint.LastID)
	// Output:
	// 1c6b8c6e org.example.inventory 9521234567899 {"quantity":5}
	// 292042fb org.example.inventory 9521234512349 {"quantity":0}
	// 06b13630 eventfeed.deleted 9521234567899 {"method":"DELETE","type":"org.example.inventory"}
	// checkpoint: 06b13630
}
