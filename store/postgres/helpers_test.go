package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// testDSN returns the test server's DSN with a small pool: a test opens
// several stores at once, each with its own pool.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	switch {
	case strings.Contains(dsn, "pool_max_conns"):
		return dsn
	case !strings.Contains(dsn, "://"):
		return dsn + " pool_max_conns=8"
	case strings.Contains(dsn, "?"):
		return dsn + "&pool_max_conns=8"
	}
	return dsn + "?pool_max_conns=8"
}

// adminPool returns a pool on the test database, closed at the end of t.
func adminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testDSN(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newSchema returns the name of a schema of its own for t, dropped with
// everything in it when t ends.
func newSchema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	pool := adminPool(t)
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// testLogger logs through t, so that what the background goroutines say
// shows with the test that made them say it.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// openLog opens a Log on schema, closed when t ends.
func openLog(t testing.TB, schema string) *Log {
	t.Helper()
	l, err := Open(context.Background(), testDSN(t), Options{Schema: schema, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
