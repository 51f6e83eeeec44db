package main

import (
	"context"
	"flag"

	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// logFlags are the flags that choose the event log a command works on.
type logFlags struct {
	db *string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	return &logFlags{
		db: fs.String("db", "events.db", "SQLite `file` holding the event log"),
	}
}

// closingLog is a store.Log that holds resources until closed.
type closingLog interface {
	store.Log
	Close() error
}

// open opens the log the flags name. pageSize is the page size given to
// feeds created through it; 0 means the store's default.
func (f *logFlags) open(ctx context.Context, pageSize int) (closingLog, error) {
	return sqlite.Open(ctx, *f.db, sqlite.Options{PageSize: pageSize})
}
