package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"os"

	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/postgres"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// logFlags are the flags that choose the event log a command works on.
type logFlags struct {
	db       *string
	postgres *string
	schema   *string
	kekFile  *string
	// encrypt makes the feeds created through the log encrypted; the
	// commands that append set it from their -encrypt flag.
	encrypt bool
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	return &logFlags{
		db:       fs.String("db", "events.db", "SQLite `file` holding the event log"),
		postgres: fs.String("postgres", "", "PostgreSQL `DSN` of a log shared by several instances, instead of -db"),
		schema:   fs.String("schema", postgres.DefaultSchema, "PostgreSQL `schema` of the log, with -postgres"),
		kekFile:  fs.String("kek-file", "", "`file` holding the key-encryption key of encrypted feeds' data keys (32 raw bytes or 64 hex digits); every process opening the log must give the same"),
	}
}

// closingLog is a store.Keyring that holds resources until closed.
type closingLog interface {
	store.Keyring
	Close() error
}

// open opens the log the flags name. pageSize is the page size given to
// feeds created through it; 0 means the store's default.
func (f *logFlags) open(ctx context.Context, pageSize int) (closingLog, error) {
	kek, err := readKEK(*f.kekFile)
	if err != nil {
		return nil, err
	}
	if *f.postgres != "" {
		return postgres.Open(ctx, *f.postgres, postgres.Options{Schema: *f.schema, PageSize: pageSize, Encrypt: f.encrypt, KEK: kek})
	}
	return sqlite.Open(ctx, *f.db, sqlite.Options{PageSize: pageSize, Encrypt: f.encrypt, KEK: kek})
}

// readKEK reads a key-encryption key from path: 32 raw bytes, or 64
// hexadecimal digits (a final newline allowed). An empty path is no key.
// The key comes from a file, never from the command line, where every
// user of the machine reads it.
func readKEK(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if len(b) == seal.KeySize {
		return b, nil
	}
	if t := bytes.TrimSpace(b); len(t) == 2*seal.KeySize {
		if k, err := hex.DecodeString(string(t)); err == nil {
			return k, nil
		}
	}
	return nil, usagef("-kek-file %s: want %d raw bytes or %d hexadecimal digits, found %d bytes of something else", path, seal.KeySize, 2*seal.KeySize, len(b))
}
