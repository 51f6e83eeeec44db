package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
)

func runErase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("erase", "[-db events.db | -postgres DSN] [-kek-file F] -feed NAME -subject S", stderr)
	lf := addLogFlags(fs)
	name := fs.String("feed", "", "encrypted feed `name`")
	subject := fs.String("subject", "", "the `subject` whose data key is destroyed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *name == "" || *subject == "" {
		return usagef("-feed and -subject are required")
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if err := eventfeed.ValidateFeedName(*name); err != nil {
		return usageError{err.Error()}
	}
	if *lf.postgres == "" {
		// Opening creates a missing file: a typo would make an empty log.
		if _, err := os.Stat(*lf.db); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no event log at %s", *lf.db)
		}
	}
	log, err := lf.open(ctx, 0)
	if err != nil {
		return err
	}
	defer log.Close()
	tomb, err := log.Erase(ctx, *name, *subject)
	switch {
	case errors.Is(err, eventfeed.ErrFeedNotFound):
		return fmt.Errorf("feed %s has no events: %w", *name, err)
	case errors.Is(err, eventfeed.ErrEncryption):
		return fmt.Errorf("feed %s is not encrypted, so its events cannot be erased (feeds are encrypted by append -encrypt or seed -encrypt when created): %w", *name, err)
	case errors.Is(err, store.ErrKeyNotFound):
		return fmt.Errorf("subject %q has no event in feed %s, so nothing to erase: %w", *subject, *name, err)
	case err != nil && tomb.Seq != 0:
		// Erased, with a warning (an SQLite WAL still to truncate).
		fmt.Fprintln(stdout, tomb.Seq)
		return err
	case err != nil:
		return err
	}
	fmt.Fprintln(stdout, tomb.Seq)
	return nil
}
