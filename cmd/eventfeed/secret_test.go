package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

func TestSecretFlag(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "  s3cret \nsecond line\n")
	empty := write("empty", "")
	blank := write("blank", "\n")
	spaced := write("spaced", "two words\n")
	big := write("big", strings.Repeat("x", maxSecretFileBytes+1))
	for _, tc := range []struct {
		name  string
		args  []string
		env   string
		want  string
		usage bool // a usage error
	}{
		{"none", nil, "", "", false},
		{"env", nil, "from-env", "from-env", false},
		{"flag", []string{"-tok", "from-flag"}, "from-env", "from-flag", false},
		{"file", []string{"-tok-file", good}, "from-env", "s3cret", false},
		{"both", []string{"-tok", "x", "-tok-file", good}, "", "", true},
		{"empty file", []string{"-tok-file", empty}, "", "", false},
		{"blank file", []string{"-tok-file", blank}, "", "", true},
		{"missing file", []string{"-tok-file", filepath.Join(dir, "nope")}, "", "", false},
		{"big file", []string{"-tok-file", big}, "", "", false},
		{"spaces", []string{"-tok-file", spaced}, "", "", true},
		{"control in env", nil, "a\tb", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EVENTFEED_TEST_TOKEN", tc.env)
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			s := addSecretFlag(fs, "tok", "EVENTFEED_TEST_TOKEN", "does things")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := s.get()
			var ue usageError
			switch {
			case tc.want != "" && (err != nil || got != tc.want):
				t.Errorf("get = %q, %v; want %q", got, err, tc.want)
			case tc.want == "" && tc.name == "none" && (err != nil || got != ""):
				t.Errorf("get = %q, %v; want nothing", got, err)
			case tc.want == "" && tc.name != "none" && err == nil:
				t.Errorf("get = %q, want an error", got)
			case tc.usage && !errors.As(err, &ue):
				t.Errorf("err = %v, want a usage error", err)
			}
		})
	}
}

// TestServeTokens starts serve with the append token in a file and the
// key token in the environment.
func TestServeTokens(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "seed", "-feed", "orders", "-n", "3", "-size", "64")
	file := filepath.Join(dir, "append-token")
	if err := os.WriteFile(file, []byte("append-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EVENTFEED_KEY_TOKEN", "key-secret")
	s := serve(t, dir, "-append-token-file", file)
	post := func(token string) int {
		req, _ := http.NewRequest("POST", s.base+"/feeds/orders", strings.NewReader(`{"n":1}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Event-Type", "order.placed")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("append-secret"); got != http.StatusCreated {
		t.Errorf("POST with the append token: %d", got)
	}
	if got := post("key-secret"); got != http.StatusUnauthorized {
		t.Errorf("POST with the key token: %d", got)
	}
	// The feed is not encrypted: no key, once authorized.
	if resp, body := get(t, s.base+"/feeds/orders/keys/order-1", "Authorization", "Bearer key-secret"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("key with the key token: %s %s", resp.Status, body)
	}
	if resp, _ := get(t, s.base+"/feeds/orders/keys/order-1", "Authorization", "Bearer append-secret"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("key with the append token: %s", resp.Status)
	}
	for _, args := range [][]string{
		{"serve", "-append-token", "x", "-append-token-file", file},
		{"serve", "-key-token", "two words"},
		{"serve", "-key-token-file", filepath.Join(dir, "missing")},
	} {
		if r := runCmd(t, dir, "", args...); r.code == 0 {
			t.Errorf("eventfeed %s: exit 0", strings.Join(args, " "))
		}
	}
}

func TestTailEncrypted(t *testing.T) {
	log := memory.NewLog(memory.Options{Encrypt: true, PageSize: 2})
	_, err := log.Append(context.Background(),
		eventfeed.Event{Feed: "people", ID: "urn:p:1", Type: "person.named", Subject: "ada", Data: []byte(`{"name":"Ada"}`)},
		eventfeed.Event{Feed: "people", ID: "urn:p:2", Type: "person.named", Subject: "bob", Data: []byte(`{"name":"Bob"}`)},
		eventfeed.Event{Feed: "people", ID: "urn:p:3", Type: "person.moved", Subject: "ada", ContentType: "text/plain", Data: []byte("Paris")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := publisher.New(log, publisher.Config{AuthorizeKeys: bearer("k")})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); h.Close() })
	source := srv.URL + "/feeds/people"

	// Without the key token: the tail stops, printing no ciphertext.
	var stdout, stderr strings.Builder
	t.Setenv("EVENTFEED_KEY_TOKEN", "")
	err = runTail(context.Background(), []string{"-q", source}, &stdout, &stderr)
	if !errors.Is(err, poller.ErrNoKey) || stdout.Len() != 0 {
		t.Fatalf("tail without a key token: %v, printed %q", err, stdout.String())
	}

	if _, err := log.Erase(context.Background(), "people", "ada"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EVENTFEED_KEY_TOKEN", "k")
	lines := parseLines(t, tail(t, "-q", source))
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4", len(lines))
	}
	for _, l := range lines {
		id, subject := str(t, l, "id"), str(t, l, "subject")
		switch {
		case str(t, l, "type") == eventfeed.TypeErased:
			if subject != "ada" || l["erased"] != nil {
				t.Errorf("tombstone: %v", l)
			}
		case subject == "ada":
			if string(l["erased"]) != "true" || string(l["data"]) != "null" || str(t, l, "contentType") != eventfeed.EncryptedContentType {
				t.Errorf("erased event %s: erased %s, data %s", id, l["erased"], l["data"])
			}
		default:
			if string(l["data"]) != `{"name":"Bob"}` || l["erased"] != nil {
				t.Errorf("event %s: data %s", id, l["data"])
			}
		}
	}
}

// TestServeEncrypted runs the commands a user runs on an encrypted SQLite
// log: serve -encrypt takes POSTs and serves keys, erase destroys a key
// while serve runs, and tail then prints the other subject's data and the
// erased one's as erased.
func TestServeEncrypted(t *testing.T) {
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	if err := os.WriteFile(kek, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EVENTFEED_APPEND_TOKEN", "a")
	t.Setenv("EVENTFEED_KEY_TOKEN", "k")
	s := serve(t, dir, "-create", "-encrypt", "-kek-file", kek)
	post := func(base, subject, data string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/feeds/people", strings.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Event-Type", "person.named")
		req.Header.Set("Event-Subject", subject)
		req.Header.Set("Authorization", "Bearer a")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, p := range [][2]string{{"ada", `{"name":"Ada Lovelace"}`}, {"bob", `{"name":"Bob Babbage"}`}, {"ada", `{"city":"Marylebone"}`}} {
		if code, body := post(s.base, p[0], p[1]); code != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", p[0], code, body)
		}
	}
	if resp, body := get(t, s.base+"/feeds/people/keys/ada", "Authorization", "Bearer k"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"kty":"oct"`) {
		t.Fatalf("key of ada: %s %s", resp.Status, body)
	}
	if got := mustRun(t, dir, "erase", "-kek-file", kek, "-feed", "people", "-subject", "ada"); strings.TrimSpace(got) == "" {
		t.Errorf("erase printed nothing")
	}
	if resp, body := get(t, s.base+"/feeds/people/keys/ada", "Authorization", "Bearer k"); resp.StatusCode != http.StatusGone {
		t.Errorf("key of erased ada: %s %s", resp.Status, body)
	}
	if code, body := post(s.base, "ada", `{"name":"Ada again"}`); code != http.StatusConflict || !strings.Contains(body, "erased") {
		t.Errorf("POST for erased ada: %d %s", code, body)
	}

	lines := parseLines(t, tail(t, "-q", s.base+"/feeds/people"))
	var got []string
	for _, l := range lines {
		switch {
		case str(t, l, "type") == eventfeed.TypeErased:
			got = append(got, "tombstone "+str(t, l, "subject"))
		case string(l["erased"]) == "true":
			got = append(got, "erased "+str(t, l, "subject"))
		default:
			got = append(got, str(t, l, "subject")+" "+string(l["data"]))
		}
	}
	want := []string{"erased ada", `bob {"name":"Bob Babbage"}`, "erased ada", "tombstone ada"}
	if !slices.Equal(got, want) {
		t.Errorf("tail printed %q, want %q", got, want)
	}

	// The same log served without -encrypt takes no appends to its
	// encrypted feed.
	s.cmd.Process.Kill()
	<-s.done
	plain := serve(t, dir, "-kek-file", kek)
	if code, body := post(plain.base, "bob", `{"n":1}`); code != http.StatusConflict || !strings.Contains(body, "encrypt") {
		t.Errorf("POST to an encrypted feed through serve without -encrypt: %d %s", code, body)
	}
}
