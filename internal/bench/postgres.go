package bench

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/eventfeed/eventfeed/store/postgres"
)

// pgLog is a PostgreSQL log in a schema of its own, dropped on Close.
type pgLog struct {
	*postgres.Log
	dsn, schema string
}

// openPostgres opens a log in a new schema named after name in the
// database at dsn.
func openPostgres(ctx context.Context, dsn, name string) (*pgLog, error) {
	schema := "eventfeed_bench_" + name + "_" + randomHex(4)
	log, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	return &pgLog{Log: log, dsn: dsn, schema: schema}, nil
}

func (l *pgLog) Close() error {
	err := l.Log.Close()
	ctx := context.Background()
	conn, cerr := pgx.Connect(ctx, l.dsn)
	if cerr != nil {
		return fmt.Errorf("bench: drop schema %s: %w", l.schema, cerr)
	}
	defer conn.Close(ctx)
	if _, cerr := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{l.schema}.Sanitize()+" CASCADE"); cerr != nil && err == nil {
		err = fmt.Errorf("bench: drop schema %s: %w", l.schema, cerr)
	}
	return err
}
