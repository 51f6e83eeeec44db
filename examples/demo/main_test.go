package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRun plays the demo and checks its narration line by line: every step
// is told, in order, with sane measured delays, and the temporary files
// are gone afterwards.
func TestRun(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\nnarration so far:\n%s", err, &out)
	}

	want := []string{
		`orders: +http://127\.0\.0\.1:\d+, publishing its events at /feeds/orders`,
		`placed order 1`,
		`shipping: http://127\.0\.0\.1:\d+, following that feed into its own SQLite replica`,
		`shipping read order 1 (\S+) after it started: GET /shipments/1 → 200 pending`,
		`placed order 2; shipping had it (\S+) later: GET /shipments/2 → 200 pending`,
		`cancelled order 2; shipping had it (\S+) later: GET /shipments/2 → 200 cancelled`,
		`stopped orders; shipping still answers from its replica: GET /shipments/1 → 200 pending`,
		`stopped shipping at seq 3; restarted orders and placed orders 3 and 4 while shipping was down`,
		`restarted shipping: it resumed after seq 3 and applied only the 2 events it missed \(of 5\) in (\S+): GET /shipments/4 → 200 pending`,
		`all steps checked in (\S+)`,
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d lines, want %d:\n%s", len(lines), len(want), &out)
	}
	for i, pattern := range want {
		if i >= len(lines) {
			break
		}
		m := regexp.MustCompile("^" + pattern + "$").FindStringSubmatch(lines[i])
		if m == nil {
			t.Errorf("line %d: got %q, want it to match %q", i+1, lines[i], pattern)
			continue
		}
		for _, s := range m[1:] {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 || d > stepTimeout {
				t.Errorf("line %d: got duration %q (%v), want one in (0, %v]", i+1, s, err, stepTimeout)
			}
		}
	}

	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Errorf("temporary directory holds %v (%v) after the demo, want nothing", left, err)
	}
}

// TestRunFails checks that a demo that cannot go on says so: canceled at
// once, it returns an error instead of narrating.
func TestRunFails(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err == nil {
		t.Fatalf("run with a canceled context: got no error, narration:\n%s", &out)
	}
	if strings.Contains(out.String(), "all steps checked") {
		t.Errorf("run with a canceled context claimed success:\n%s", &out)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary directory holds %v after the demo, want nothing", left)
	}
}
