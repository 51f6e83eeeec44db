package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// readStored returns the events of feed in the SQLite log at path, as
// stored.
func readStored(t *testing.T, path, feed string) []eventfeed.Event {
	t.Helper()
	l, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	evs, err := l.Read(context.Background(), feed, 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestEncryptAndErase appends to and seeds encrypted feeds, erases a
// subject and tries what must fail, on an SQLite log.
func TestEncryptAndErase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "events.db")
	appendTo := func(feed, subject, id, data string, extra ...string) result {
		args := append([]string{"append"}, extra...)
		args = append(args, "-feed", feed, "-type", "person.registered", "-subject", subject, "-id", id, data)
		return runCmd(t, dir, "", args...)
	}
	for _, c := range []struct{ subject, id, data string }{
		{"alice", "urn:x:1", `{"name":"Alice Liddell"}`},
		{"bob", "urn:x:2", `{"name":"Bob Dylan"}`},
		{"alice", "urn:x:3", `{"address":"Wonderland"}`},
	} {
		if r := appendTo("people", c.subject, c.id, c.data, "-encrypt"); r.code != 0 {
			t.Fatalf("append -encrypt: exit %d: %s", r.code, r.stderr)
		}
	}
	if r := appendTo("plain", "carol", "urn:x:9", `{"name":"Carol"}`); r.code != 0 {
		t.Fatalf("append: exit %d: %s", r.code, r.stderr)
	}
	if got := mustRun(t, dir, "seed", "-encrypt", "-feed", "seeded", "-n", "20", "-size", "64"); got != "20\n" {
		t.Errorf("seed -encrypt printed %q, want 20", got)
	}
	for _, feed := range []string{"people", "seeded"} {
		for _, e := range readStored(t, db, feed) {
			if e.ContentType != eventfeed.EncryptedContentType {
				t.Errorf("%s: event %d stored as %q, want %q", feed, e.Seq, e.ContentType, eventfeed.EncryptedContentType)
			}
		}
	}
	for _, name := range []string{"events.db", "events.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		for _, s := range []string{"Alice Liddell", "Wonderland", "Bob Dylan"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the plaintext %q", name, s)
			}
		}
	}

	if got := mustRun(t, dir, "erase", "-feed", "people", "-subject", "alice"); got != "4\n" {
		t.Errorf("erase printed %q, want the tombstone's seq 4", got)
	}
	if got := mustRun(t, dir, "erase", "-feed", "people", "-subject", "alice"); got != "4\n" {
		t.Errorf("second erase printed %q, want the first tombstone's seq 4", got)
	}
	evs := readStored(t, db, "people")
	if len(evs) != 4 || evs[3].Type != eventfeed.TypeErased || evs[3].Subject != "alice" {
		t.Errorf("after erasing twice the feed holds %d events, the last %+v; want 4, the last a tombstone of alice", len(evs), evs[len(evs)-1])
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown subject", []string{"erase", "-feed", "people", "-subject", "dave"}, 1, `subject "dave" has no event in feed people`},
		{"unknown feed", []string{"erase", "-feed", "nothing", "-subject", "alice"}, 1, "feed nothing has no events"},
		{"unencrypted feed", []string{"erase", "-feed", "plain", "-subject", "carol"}, 1, "feed plain is not encrypted"},
		{"missing file", []string{"erase", "-db", "typo.db", "-feed", "people", "-subject", "alice"}, 1, "no event log at typo.db"},
		{"no subject", []string{"erase", "-feed", "people"}, 2, "-feed and -subject are required"},
		{"bad feed name", []string{"erase", "-feed", "People!", "-subject", "x"}, 2, "invalid feed name"},
		{"append for an erased subject", []string{"append", "-encrypt", "-feed", "people", "-type", "t", "-subject", "alice", "{}"}, 1, "subject erased"},
		{"append without -encrypt", []string{"append", "-feed", "people", "-type", "t", "-subject", "bob", "{}"}, 1, "is encrypted, and this Log does not encrypt"},
		{"append -encrypt to a plain feed", []string{"append", "-encrypt", "-feed", "plain", "-type", "t", "-subject", "carol", "{}"}, 1, "is not encrypted, and this Log encrypts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, dir, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q in stderr", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); !os.IsNotExist(err) {
		t.Errorf("erase of a missing file left typo.db behind (Stat: %v)", err)
	}
	if n := len(readStored(t, db, "people")); n != 4 {
		t.Errorf("after the refused commands the feed holds %d events, want 4", n)
	}
}

// TestKEKFile appends with a key-encryption key from a file, in either
// form, and refuses another key or a malformed file.
func TestKEKFile(t *testing.T) {
	dir := t.TempDir()
	kek := seal.NewKey()
	os.WriteFile(filepath.Join(dir, "kek.bin"), kek, 0o600)
	os.WriteFile(filepath.Join(dir, "kek.hex"), []byte(hex.EncodeToString(kek)+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "other.hex"), []byte(hex.EncodeToString(seal.NewKey())), 0o600)
	os.WriteFile(filepath.Join(dir, "short"), []byte("0123"), 0o600)
	app := func(kekFile, id string) result {
		return runCmd(t, dir, "", "append", "-encrypt", "-kek-file", kekFile, "-feed", "people", "-type", "t", "-subject", "alice", "-id", id, `{"n":1}`)
	}
	if r := app("kek.bin", "urn:x:1"); r.code != 0 || r.stdout != "1\n" {
		t.Fatalf("append with kek.bin: exit %d, %q: %s", r.code, r.stdout, r.stderr)
	}
	if r := app("kek.hex", "urn:x:2"); r.code != 0 || r.stdout != "2\n" {
		t.Errorf("append with the same key in hex: exit %d, %q: %s", r.code, r.stdout, r.stderr)
	}
	if r := app("other.hex", "urn:x:3"); r.code != 1 || !strings.Contains(r.stderr, "key-encryption key") {
		t.Errorf("append with another key: exit %d, stderr %q; want 1 and the key named", r.code, r.stderr)
	}
	if r := app("short", "urn:x:4"); r.code != 2 || !strings.Contains(r.stderr, "-kek-file short") {
		t.Errorf("append with a malformed key file: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
	if r := app("missing", "urn:x:5"); r.code != 1 || !strings.Contains(r.stderr, "missing") {
		t.Errorf("append with a missing key file: exit %d, stderr %q; want 1", r.code, r.stderr)
	}
	// Erasing needs no key-encryption key: the key is destroyed, not read.
	if got := mustRun(t, dir, "erase", "-feed", "people", "-subject", "alice"); got != "3\n" {
		t.Errorf("erase printed %q, want 3", got)
	}
}

// TestErasePostgres erases from a PostgreSQL log.
func TestErasePostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	schema := fmt.Sprintf("cmd_test_%d", time.Now().UnixNano())
	t.Cleanup(func() { dropSchema(t, dsn, schema) })
	pg := []string{"-postgres", dsn, "-schema", schema}
	dir := t.TempDir()
	mustRun(t, dir, with("append", pg, "-encrypt", "-feed", "people", "-type", "t", "-subject", "alice", `{"n":1}`)...)
	mustRun(t, dir, with("append", pg, "-encrypt", "-feed", "people", "-type", "t", "-subject", "bob", `{"n":2}`)...)
	for i := range 2 {
		if got := mustRun(t, dir, with("erase", pg, "-feed", "people", "-subject", "alice")...); got != "3\n" {
			t.Errorf("erase %d printed %q, want the tombstone's seq 3", i+1, got)
		}
	}
	r := runCmd(t, dir, "", with("erase", pg, "-feed", "people", "-subject", "carol")...)
	if r.code != 1 || !strings.Contains(r.stderr, `subject "carol" has no event`) {
		t.Errorf("erase of an unknown subject: exit %d, stderr %q", r.code, r.stderr)
	}
}
