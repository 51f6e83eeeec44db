package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/uuid"
)

// seedBatch is how many events seed appends per transaction.
const seedBatch = 5000

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("seed", "[-db events.db | -postgres DSN] [-encrypt] [-kek-file F] -feed NAME -n COUNT [-size BYTES]", stderr)
	lf := addLogFlags(fs)
	name := fs.String("feed", "", "feed `name` ([a-z0-9._-])")
	n := fs.Int("n", 0, "number of events to append")
	size := fs.Int("size", 300, "approximate size of each event's JSON data, in `bytes`")
	fs.BoolVar(&lf.encrypt, "encrypt", false, "the feed is encrypted: each event is sealed under a key of its subject's (fixed when the feed is created)")
	pageSize := fs.Int("page-size", 0, "page size for a feed created now (default 100); an existing feed keeps its own")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *n <= 0 {
		return usagef("-feed and a positive -n are required")
	}
	if err := eventfeed.ValidateFeedName(*name); err != nil {
		return usageError{err.Error()}
	}
	if *size < 0 || *size > 1<<20 {
		return usagef("-size %d is out of range [0, 1048576]", *size)
	}
	log, err := lf.open(ctx, *pageSize)
	if err != nil {
		return err
	}
	defer log.Close()
	start := time.Now()
	batch := make([]eventfeed.Event, 0, min(*n, seedBatch))
	var last uint64
	for i := 0; i < *n; {
		batch = batch[:0]
		for ; i < *n && len(batch) < seedBatch; i++ {
			batch = append(batch, seedEvent(*name, i, *size))
		}
		stored, err := log.Append(ctx, batch...)
		if err != nil {
			return fmt.Errorf("after %d events: %w", i-len(batch), err)
		}
		last = stored[len(stored)-1].Seq
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stderr, "appended %d events to %s in %v (%.0f events/s); head is %d\n",
		*n, *name, elapsed.Round(time.Millisecond), float64(*n)/elapsed.Seconds(), last)
	fmt.Fprintln(stdout, last)
	return nil
}

// seedEvent returns the i-th synthetic event of a seed run: an
// "item.updated" event about item-i whose JSON data is about size bytes.
func seedEvent(feed string, i, size int) eventfeed.Event {
	data := make([]byte, 0, size+32)
	data = append(data, `{"n":`...)
	data = strconv.AppendInt(data, int64(i), 10)
	data = append(data, `,"pad":"`...)
	for len(data) < size-2 {
		data = append(data, byte('a'+len(data)%26))
	}
	data = append(data, `"}`...)
	return eventfeed.Event{
		Feed:    feed,
		ID:      uuid.NewURN(),
		Type:    "item.updated",
		Subject: "item-" + strconv.Itoa(i),
		Time:    time.Now().UTC(),
		Data:    data,
	}
}
