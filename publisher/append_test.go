package publisher_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/publisher"
)

// TestAppend checks POST: an Atom entry, a raw body, replays, and the
// feed a first event creates.
func TestAppend(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Authorize: allowAll})
	atomEntry := `<?xml version="1.0"?>
<entry xmlns="http://www.w3.org/2005/Atom" xmlns:ef="https://github.com/eventfeed/eventfeed/ns/1">
  <id>urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66</id>
  <title>order.placed order-1</title>
  <updated>2026-11-26T12:00:00Z</updated>
  <author><name>shop</name></author>
  <category term="order.placed"/>
  <ef:subject>order-1</ef:subject>
  <ef:seq>99</ef:seq>
  <content type="application/json">{"total":12}</content>
</entry>`
	tests := []struct {
		name, feed, body string
		headers          []string
		wantSeq          uint64
		wantID, wantType string
		wantSubject      string
		wantContentType  string
		wantData         string
	}{
		{"atom entry", "orders", atomEntry, []string{"Content-Type: application/atom+xml;type=entry"},
			1, "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "order.placed", "order-1", "application/json", `{"total":12}`},
		{"atom entry replayed", "orders", atomEntry, []string{"Content-Type: application/atom+xml"},
			1, "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "order.placed", "order-1", "application/json", `{"total":12}`},
		{"atom entry with a key", "orders", atomEntry, []string{"Content-Type: application/atom+xml", "Idempotency-Key: k-1"},
			2, keyID("orders", "k-1"), "order.placed", "order-1", "application/json", `{"total":12}`},
		{"raw JSON", "orders", `{"paid":true}`, []string{"Content-Type: application/json", "Event-Type: order.paid", "Event-Subject: order-1", `Idempotency-Key: "k-2"`},
			3, keyID("orders", "k-2"), "order.paid", "order-1", "application/json", `{"paid":true}`},
		{"raw JSON replayed", "orders", `{"paid":true}`, []string{"Content-Type: application/json", "Event-Type: order.paid", "Event-Subject: order-1", "Idempotency-Key: k-2"},
			3, keyID("orders", "k-2"), "order.paid", "order-1", "application/json", `{"paid":true}`},
		{"raw text, new feed", "notes", "hello", []string{"Content-Type: text/plain; charset=UTF-8", "Event-Type: note"},
			1, "", "note", "", "text/plain; charset=UTF-8", "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", e.url(tt.feed), strings.NewReader(tt.body), tt.headers...)
			if r.StatusCode != http.StatusCreated {
				t.Fatalf("status %d, want 201; body %s", r.StatusCode, r.body)
			}
			loc := r.Header.Get("Location")
			if want := fmt.Sprintf("/feeds/%s/%s/entries/%d", tt.feed, e.feed(tt.feed).Epoch, tt.wantSeq); loc != want {
				t.Errorf("Location %q, want %q", loc, want)
			}
			if r.Header.Get("Content-Type") != feed.MediaTypeEntry || r.Header.Get("ETag") == "" {
				t.Errorf("Content-Type %q ETag %q", r.Header.Get("Content-Type"), r.Header.Get("ETag"))
			}
			en, err := feed.DecodeEntry(bytes.NewReader(r.body), feed.DecodeOptions{})
			if err != nil {
				t.Fatalf("body: %v\n%s", err, r.body)
			}
			if self := resolve(t, r.Request.URL.String(), en.Link("self")); self != resolve(t, r.Request.URL.String(), loc) {
				t.Errorf("the entry's self link %q resolves to %s, want the Location", en.Link("self"), self)
			}
			stored, err := e.mem.Read(context.Background(), tt.feed, tt.wantSeq, tt.wantSeq)
			if err != nil || len(stored) != 1 {
				t.Fatalf("Read: %v, %d events", err, len(stored))
			}
			ev := stored[0]
			if tt.wantID != "" && ev.ID != tt.wantID || tt.wantID == "" && !strings.HasPrefix(ev.ID, "urn:uuid:") {
				t.Errorf("ID %q, want %q", ev.ID, tt.wantID)
			}
			if ev.Type != tt.wantType || ev.Subject != tt.wantSubject || ev.MediaType() != tt.wantContentType || string(ev.Data) != tt.wantData {
				t.Errorf("stored %s %q %q %q, want %s %q %q %q", ev.Type, ev.Subject, ev.MediaType(), ev.Data,
					tt.wantType, tt.wantSubject, tt.wantContentType, tt.wantData)
			}
			if got := e.feed(tt.feed).Head; got != tt.wantSeq {
				t.Errorf("head %d, want %d", got, tt.wantSeq)
			}
			// The entry is served where Location says.
			e.mustGet(resolve(t, r.Request.URL.String(), loc))
		})
	}
	if got := e.h.Stats().Appends; got != uint64(len(tests)) {
		t.Errorf("Stats().Appends = %d, want %d", got, len(tests))
	}
}

// keyID is the event ID the package documentation gives for an append to
// feed with Idempotency-Key key, computed here on its own (RFC 9562 §5.5).
func keyID(feed, key string) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	sum := sha1.Sum(append(ns, "https://github.com/eventfeed/eventfeed/ns/1/feeds/"+feed+"/idempotency-keys/"+url.PathEscape(key)...))
	u := sum[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return "urn:uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// TestIdempotencyKeyScope is the regression test of a key taken as a
// global event ID: the same key on two feeds stores two events, each
// replayed on its own feed; an atom:id stays global.
func TestIdempotencyKeyScope(t *testing.T) {
	if got, want := publisher.KeyID("orders", "same/key"), keyID("orders", "same/key"); got != want {
		t.Errorf("KeyID = %s, want %s", got, want)
	}
	e := newEnv(t, 3, publisher.Config{Authorize: allowAll})
	post := func(feedName, body string) response {
		return e.do("POST", e.url(feedName), strings.NewReader(body), "Content-Type: application/json", "Event-Type: t", "Idempotency-Key: same/key")
	}
	for _, step := range []struct {
		feed, body string
		status     int
		seq        uint64
	}{
		{"orders", `{"a":1}`, 201, 1},
		{"invoices", `{"b":2}`, 201, 1},
		{"orders", `{"a":1}`, 201, 1},   // a replay
		{"invoices", `{"b":2}`, 201, 1}, // a replay
		{"orders", `{"c":3}`, 409, 0},
	} {
		r := post(step.feed, step.body)
		if r.StatusCode != step.status {
			t.Fatalf("POST %s %s: status %d, want %d: %s", step.feed, step.body, r.StatusCode, step.status, r.body)
		}
		if step.status != 201 {
			if !strings.Contains(string(r.body), "same/key") {
				t.Errorf("409 does not name the key: %s", r.body)
			}
			continue
		}
		evs, err := e.mem.Read(context.Background(), step.feed, 1, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("feed %s: %d events (%v), want 1", step.feed, len(evs), err)
		}
		if want := keyID(step.feed, "same/key"); evs[0].ID != want || string(evs[0].Data) != step.body {
			t.Errorf("feed %s stores %s %s, want %s %s", step.feed, evs[0].ID, evs[0].Data, want, step.body)
		}
	}
}

// TestAppendBaseURL checks that with a BaseURL the Location is absolute
// and the body is the document served there.
func TestAppendBaseURL(t *testing.T) {
	e := newEnv(t, 3, publisher.Config{Authorize: allowAll})
	h, err := publisher.New(e.log, publisher.Config{Authorize: allowAll, BaseURL: e.base})
	if err != nil {
		t.Fatal(err)
	}
	e.mount(h, "/feeds")
	r := e.do("POST", e.url("orders"), strings.NewReader("{}"), "Content-Type: application/json", "Event-Type: t")
	if r.StatusCode != 201 {
		t.Fatalf("status %d: %s", r.StatusCode, r.body)
	}
	loc := r.Header.Get("Location")
	if want := e.entryURL("orders", 1); loc != want || r.Header.Get("Content-Location") != want {
		t.Errorf("Location %q Content-Location %q, want %q", loc, r.Header.Get("Content-Location"), want)
	}
	got := e.mustGet(loc)
	if !bytes.Equal(got.body, r.body) || got.Header.Get("ETag") != r.Header.Get("ETag") {
		t.Errorf("GET of the Location differs from the POST's body or ETag")
	}
}

// TestAppendAuthorization checks 401, 403 and 405.
func TestAppendAuthorization(t *testing.T) {
	authorize := func(r *http.Request, feed string) error {
		switch r.Header.Get("Authorization") {
		case "":
			return fmt.Errorf("feed %s: %w", feed, publisher.ErrUnauthorized)
		case "Bearer good":
			return nil
		}
		return errNoToken
	}
	e := newEnv(t, 3, publisher.Config{Authorize: authorize})
	post := func(headers ...string) response {
		return e.do("POST", e.url("orders"), strings.NewReader("{}"), append(headers, "Content-Type: application/json", "Event-Type: t")...)
	}
	r := post()
	checkProblem(t, "no credentials", r, 401, "credentials")
	if got := r.Header.Get("WWW-Authenticate"); got != publisher.DefaultChallenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, publisher.DefaultChallenge)
	}
	r = post("Authorization: Bearer bad")
	checkProblem(t, "bad credentials", r, 403, "not allowed")
	if strings.Contains(string(r.body), errNoToken.Error()) {
		t.Errorf("403 shows the authorizer's error: %s", r.body)
	}
	if _, err := e.mem.Feed(context.Background(), "orders"); err == nil {
		t.Errorf("a refused append created the feed")
	}
	if r := post("Authorization: Bearer good"); r.StatusCode != 201 {
		t.Errorf("authorized append: status %d: %s", r.StatusCode, r.body)
	}

	ro := newEnv(t, 3, publisher.Config{})
	r = ro.do("POST", ro.url("orders"), strings.NewReader("{}"), "Content-Type: application/json", "Event-Type: t")
	checkProblem(t, "read-only", r, 405, "not enabled")
	if got := r.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow %q, want GET, HEAD", got)
	}
	if got := e.do("PUT", e.url("orders"), nil).Header.Get("Allow"); got != "GET, HEAD, POST" {
		t.Errorf("Allow %q with appends enabled, want GET, HEAD, POST", got)
	}
}
