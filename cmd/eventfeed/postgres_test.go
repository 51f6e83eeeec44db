package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
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
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
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

// TestPostgresTwoInstances serves one PostgreSQL log from two publisher
// processes, appends through both at once over HTTP, and reads the feed
// through either: every event once, in the same order, with gapless seqs.
func TestPostgresTwoInstances(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := fmt.Sprintf("cmd_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	pg := []string{"-postgres", dsn, "-schema", schema, "-append-token", "secret"}
	dir := t.TempDir()
	a, b := serve(t, dir, pg...), serve(t, dir, pg...)

	const perWriter = 60
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w, s := range []*server{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				body := fmt.Sprintf(`{"writer":%d,"i":%d}`, w, i)
				req, _ := http.NewRequest(http.MethodPost, s.base+"/feeds/orders", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer secret")
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Event-Type", "order.placed")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("urn:x:%d-%d", w, i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("POST %s: %s", body, resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const total = 4 * perWriter
	var first []string
	for _, s := range []*server{a, b} {
		var lines []string
		for deadline := time.Now().Add(10 * time.Second); len(lines) < total && time.Now().Before(deadline); {
			out := mustRun(t, dir, "tail", s.base+"/feeds/orders")
			lines = strings.Split(strings.TrimSpace(out), "\n")
		}
		if len(lines) != total {
			t.Fatalf("tail through %s printed %d entries, want %d", s.base, len(lines), total)
		}
		seen := make(map[string]bool)
		for i, line := range lines {
			var e struct {
				ID  string
				Seq int
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("tail line %q: %v", line, err)
			}
			if e.Seq != i+1 || seen[e.ID] {
				t.Fatalf("tail through %s: entry %d is %s at seq %d (seen before: %v), want seq %d once", s.base, i, e.ID, e.Seq, seen[e.ID], i+1)
			}
			seen[e.ID] = true
		}
		if first == nil {
			first = lines
		} else if strings.Join(lines, "\n") != strings.Join(first, "\n") {
			t.Errorf("the two instances serve the feed differently")
		}
	}
}

func dropSchema(t *testing.T, dsn, schema string) {
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
}
