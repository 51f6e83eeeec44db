package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/store"
	"github.com/jackc/pgx/v5"
)

func TestCheckSchema(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"", DefaultSchema, nil},
		{"orders", "orders", nil},
		{"_x9", "_x9", nil},
		{strings.Repeat("a", maxSchemaLen), strings.Repeat("a", maxSchemaLen), nil},
		{strings.Repeat("a", maxSchemaLen+1), "", ErrInvalidSchema},
		{"Orders", "", ErrInvalidSchema},
		{"9lives", "", ErrInvalidSchema},
		{"a-b", "", ErrInvalidSchema},
		{`x"; DROP TABLE y; --`, "", ErrInvalidSchema},
		{"pg_catalog", "", ErrInvalidSchema},
	}
	for _, tt := range tests {
		got, err := checkSchema(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("checkSchema(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestHeadPayload(t *testing.T) {
	for _, f := range []store.Feed{
		{Name: "orders", Epoch: "0123456789abcdef", PageSize: 100, Head: 42, Updated: time.Date(2026, 11, 26, 1, 2, 3, 456789012, time.UTC)},
		{Name: "a.b_c-d", Epoch: "e", PageSize: store.MaxPageSize, Head: 1<<63 + 5, Updated: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
	} {
		got, err := parseHead(formatHead(f))
		if err != nil || got != f {
			t.Errorf("parseHead(formatHead(%+v)) = %+v, %v", f, got, err)
		}
	}
	for _, bad := range []string{"", "1 2 3 4 e", "x 100 0 0 e f", "1 100 0 0  f", "1 100 0 0 e f g"} {
		if f, err := parseHead(bad); err == nil {
			t.Errorf("parseHead(%q) = %+v, want an error", bad, f)
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	for _, in := range []time.Time{
		time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600)),
		time.Date(1, 1, 1, 0, 0, 0, 999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		if got := joinTime(splitTime(in)); !got.Equal(in) || got.Location() != time.UTC {
			t.Errorf("joinTime(splitTime(%v)) = %v, want the same instant in UTC", in, got)
		}
	}
}

func TestInvalidTime(t *testing.T) {
	l := openLog(t, newSchema(t))
	for _, at := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)} {
		e := testEvent("t", "x")
		e.Time = at
		if _, err := l.Append(context.Background(), e); !errors.Is(err, eventfeed.ErrInvalidEvent) {
			t.Errorf("Append with Time %v = %v, want ErrInvalidEvent", at, err)
		}
	}
}

// TestMigrate opens several instances on a new schema at once, then
// refuses a schema migrated by a newer version.
func TestMigrate(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				var l *Log
				if l, err = Open(ctx, testDSN(t), Options{Schema: schema, Logger: testLogger(t)}); err == nil {
					l.Close()
				}
			} else {
				var r *Replica
				if r, err = OpenReplica(ctx, testDSN(t), ReplicaOptions{Schema: schema}); err == nil {
					r.Close()
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent open: %v", err)
		}
	}
	pool := adminPool(t)
	var versions string
	rows, _ := pool.Query(ctx, fmt.Sprintf("SELECT component || '=' || version FROM %s.schema_version ORDER BY 1", pgx.Identifier{schema}.Sanitize()))
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if versions = strings.Join(got, " "); err != nil || versions != fmt.Sprintf("log=%d replica=%d", len(logSchema), len(replicaSchema)) {
		t.Errorf("schema_version = %q, %v", versions, err)
	}

	if _, err := pool.Exec(ctx, fmt.Sprintf("UPDATE %s.schema_version SET version = version + 1", pgx.Identifier{schema}.Sanitize())); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(ctx, testDSN(t), Options{Schema: schema}); !errors.Is(err, ErrSchemaTooNew) {
		if err == nil {
			l.Close()
		}
		t.Errorf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if r, err := OpenReplica(ctx, testDSN(t), ReplicaOptions{Schema: schema}); !errors.Is(err, ErrSchemaTooNew) {
		if err == nil {
			r.Close()
		}
		t.Errorf("OpenReplica of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if _, err := Open(ctx, testDSN(t), Options{Schema: "Bad"}); !errors.Is(err, ErrInvalidSchema) {
		t.Errorf("Open with schema Bad = %v, want ErrInvalidSchema", err)
	}
}

// TestClose: Close wakes waiters, refuses later calls, and stops every
// goroutine the Log started.
func TestClose(t *testing.T) {
	schema := newSchema(t)
	ctx := context.Background()
	before := runtime.NumGoroutine()
	l, err := Open(ctx, testDSN(t), Options{Schema: schema, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, testEvent("c", "1")); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := l.Wait(ctx, "c", 1)
		waiting <- err
	}()
	notYet(t, "Wait before Close", waiting)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := receive(t, "Wait after Close", waiting); !errors.Is(err, eventfeed.ErrClosed) {
		t.Errorf("Wait after Close = %v, want ErrClosed", err)
	}
	for name, err := range map[string]error{
		"Append":   func() error { _, err := l.Append(ctx, testEvent("c", "2")); return err }(),
		"AppendTx": l.AppendTx(ctx, nil, testEvent("c", "2")),
		"Read":     func() error { _, err := l.Read(ctx, "c", 1, 1); return err }(),
		"Feed":     func() error { _, err := l.Feed(ctx, "c"); return err }(),
		"Feeds":    func() error { _, err := l.Feeds(ctx); return err }(),
		"Wait":     func() error { _, err := l.Wait(ctx, "c", 0); return err }(),
	} {
		if !errors.Is(err, eventfeed.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	eventually(t, "back to the goroutines before Open", func() bool { return runtime.NumGoroutine() <= before })
}
