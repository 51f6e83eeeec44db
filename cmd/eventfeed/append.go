package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/uuid"
)

// maxAppendData bounds the DATA read from stdin by append.
const maxAppendData = 16 << 20

func runAppend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("append", "[-db events.db | -postgres DSN] [-encrypt] [-kek-file F] -feed NAME -type TYPE [-subject S] [-id ID] [-content-type T] [DATA]", stderr)
	lf := addLogFlags(fs)
	name := fs.String("feed", "", "feed `name` ([a-z0-9._-]); created by its first event")
	typ := fs.String("type", "", "event `type`, e.g. order.placed")
	subject := fs.String("subject", "", "the entity the event is about, e.g. order-42")
	id := fs.String("id", "", "event `ID`, the idempotency key (default: a new urn:uuid)")
	contentType := fs.String("content-type", eventfeed.DefaultContentType, "media `type` of DATA")
	fs.BoolVar(&lf.encrypt, "encrypt", false, "the feed is encrypted: DATA is sealed under a key of the subject's, which erase destroys (fixed when the feed is created; events without -subject stay in the clear)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *typ == "" {
		return usagef("-feed and -type are required")
	}
	if fs.NArg() > 1 {
		return usagef("one DATA argument at most, got %d (quote it)", fs.NArg())
	}
	var data []byte
	if fs.NArg() == 1 {
		data = []byte(fs.Arg(0))
	} else {
		var err error
		if data, err = io.ReadAll(io.LimitReader(os.Stdin, maxAppendData+1)); err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
		if len(data) > maxAppendData {
			return fmt.Errorf("DATA on stdin is over %d bytes", maxAppendData)
		}
	}
	if *id == "" {
		*id = uuid.NewURN()
	}
	ev := eventfeed.Event{
		Feed: *name, ID: *id, Type: *typ, Subject: *subject,
		ContentType: *contentType, Data: data, // Time left to the log, so that a retry replays
	}
	if err := ev.Validate(); err != nil {
		return usageError{err.Error()}
	}
	log, err := lf.open(ctx, 0)
	if err != nil {
		return err
	}
	defer log.Close()
	stored, err := log.Append(ctx, ev)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, stored[0].Seq)
	return nil
}
