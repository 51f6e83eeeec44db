package main

import (
	"context"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/store"
)

// follower is what tail needs of a poller.Poller or a poller.HTTPFeed.
type follower interface {
	Sync(ctx context.Context) error
	Run(ctx context.Context) error
	Stats() poller.Stats
	FeedName() string
}

// newFollower returns a poller.HTTPFeed when source answers a JSON batch
// of CloudEvents (an http-feed), else a poller.Poller (Atom). The kind is
// told from the Content-Type of a GET of source; a failed request leaves
// it to the Poller, which reports the failure as it retries.
func newFollower(ctx context.Context, source string, replica store.Replica, cfg poller.Config) (follower, error) {
	if httpFeed(ctx, source) {
		return poller.NewHTTPFeed(source, replica, cfg)
	}
	return poller.New(source, replica, cfg)
}

func httpFeed(ctx context.Context, source string) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", "application/atom+xml, "+poller.MediaTypeCloudEventsBatch+";q=0.9, application/json;q=0.8")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	io.CopyN(io.Discard, resp.Body, 4<<10)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return resp.StatusCode == http.StatusOK && (mt == poller.MediaTypeCloudEventsBatch || mt == "application/json")
}
