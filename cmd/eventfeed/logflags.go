package main

import (
	"context"
	"flag"

	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/postgres"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// logFlags are the flags that choose the event log a command works on.
type logFlags struct {
	db       *string
	postgres *string
	schema   *string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	return &logFlags{
		db:       fs.String("db", "events.db", "SQLite `file` holding the event log"),
		postgres: fs.String("postgres", "", "PostgreSQL `DSN` of a log shared by several instances, instead of -db"),
		schema:   fs.String("schema", postgres.DefaultSchema, "PostgreSQL `schema` of the log, with -postgres"),
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
	if *f.postgres != "" {
		return postgres.Open(ctx, *f.postgres, postgres.Options{Schema: *f.schema, PageSize: pageSize})
	}
	return sqlite.Open(ctx, *f.db, sqlite.Options{PageSize: pageSize})
}
