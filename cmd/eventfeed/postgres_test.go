package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventfeed/eventfeed/internal/testenv"
)

// TestPostgres runs seed, append, serve and tail on a PostgreSQL log and
// replica, in a schema of their own.
func TestPostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := fmt.Sprintf("cmd_test_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	pg := []string{"-postgres", dsn, "-schema", schema}
	dir := t.TempDir()
	if got := mustRun(t, dir, with("seed", pg, "-feed", "orders", "-n", "150", "-size", "64")...); got != "150\n" {
		t.Errorf("seed printed %q, want the head 150", got)
	}
	if got := mustRun(t, dir, with("append", pg, "-feed", "orders", "-type", "order.placed", "-id", "urn:x:pg", `{"pg":true}`)...); got != "151\n" {
		t.Errorf("append printed %q, want seq 151", got)
	}
	s := serve(t, dir, pg...)
	url := s.base + "/feeds/orders"

	tail := with("tail", pg, url)
	out := mustRun(t, dir, tail...)
	if n := strings.Count(out, "\n"); n != 151 {
		t.Errorf("first tail printed %d lines, want 151", n)
	}
	if !strings.Contains(lastLines(out, 1), `"id":"urn:x:pg","seq":151`) {
		t.Errorf("first tail ends with %s, want the appended event", lastLines(out, 1))
	}
	mustRun(t, dir, with("append", pg, "-feed", "orders", "-type", "order.placed", `{"n":152}`)...)
	// The checkpoint in PostgreSQL: the next tail prints only what is new
	// (the publisher learns of the append within its poll interval).
	var again string
	for deadline := time.Now().Add(10 * time.Second); ; {
		again += mustRun(t, dir, tail...)
		if strings.Contains(again, `{"n":152}`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(again, "\n"); n != 1 || !strings.Contains(again, `"seq":152`) {
		t.Errorf("later tails printed %q, want only seq 152", again)
	}
}

// with returns the command line cmd flags args...: flags go before the
// arguments, where the flag package stops.
func with(cmd string, flags []string, args ...string) []string {
	return append(append([]string{cmd}, flags...), args...)
}
