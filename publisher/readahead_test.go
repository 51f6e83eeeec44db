package publisher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// TestReadAhead follows a consumer catching up: each full page it is served
// for the first time has the next one rendered in the background, so that
// the consumer never waits for a render after its first page; the working
// page is never read ahead.
func TestReadAhead(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{})
	e.add("orders", 0, 13) // full pages 1 to 4, and the working page 5
	e.mustGet(e.pageURL("orders", 1))
	for k := 2; k <= 4; k++ {
		// Page k is read from the log before anyone asks for it. The
		// request may come while it is still being rendered: it waits
		// for that render instead of reading the log again, and must
		// read the next page ahead all the same.
		waitFor(t, fmt.Sprintf("page %d read ahead", k), func() bool { return e.log.reads.Load() >= int64(k) })
		r := e.mustGet(e.pageURL("orders", k))
		if got := r.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("page %d read ahead: Cache-Control %q, want an archive's", k, got)
		}
		if got := e.log.reads.Load(); got > int64(k)+1 {
			t.Fatalf("after serving page %d the log was read %d times, want at most %d", k, got, k+1)
		}
	}
	before := e.h.Stats().Renders
	e.mustGet(e.pageURL("orders", 5))
	if got := e.log.reads.Load(); got != 5 {
		t.Errorf("%d reads of the log for 4 full pages and the working page, want 5", got)
	}
	if got := e.h.Stats().Renders - before; got != 1 {
		t.Errorf("serving the working page rendered %d documents, want 1 (itself)", got)
	}
}

// blockingLog is a memory log whose Read of a range from seq blocks until
// release is closed.
type blockingLog struct {
	*memory.Log
	from    uint64
	reading chan struct{}
	release chan struct{}
}

func (l *blockingLog) Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error) {
	if from == l.from {
		close(l.reading)
		<-l.release
	}
	return l.Log.Read(ctx, feed, from, to)
}

// TestReadAheadClose checks that Close returns only once the pages being
// read ahead are done: the Handler leaves no goroutine behind.
func TestReadAheadClose(t *testing.T) {
	log := &blockingLog{Log: memory.NewLog(memory.Options{PageSize: 2}), from: 3, reading: make(chan struct{}), release: make(chan struct{})}
	for i := range 6 {
		if _, err := log.Append(context.Background(), testEvent("orders", i)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := publisher.New(log, publisher.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 2, publisher.Config{})
	e.mount(h, "/feeds")
	f, err := log.Feed(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	e.mustGet(e.url(fmt.Sprintf("orders/%s/pages/1", f.Epoch)))
	<-log.reading // page 2 is being read ahead
	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a page was being read ahead")
	case <-time.After(50 * time.Millisecond):
	}
	close(log.release)
	<-closed
}
