package eventfeed_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
	"github.com/eventfeed/eventfeed/store/sqlite"
)

// TestValidateJSON checks that data under a JSON media type must be JSON:
// a consumer decoding it would otherwise get a string where the other
// events of the feed give an object.
func TestValidateJSON(t *testing.T) {
	for _, tc := range []struct {
		contentType, data string
		valid             bool
	}{
		{"", `{"a":1}`, true},
		{"", `{bad json`, false},
		{"", `"a string"`, true},
		{"", ``, true}, // no data
		{"application/json", `[1,2]`, true},
		{"application/json; charset=utf-8", `{"a":`, false},
		{"Application/JSON", `nope`, false},
		{"application/cloudevents+json", `{"specversion":"1.0"}`, true},
		{"application/cloudevents+json", `{"specversion":`, false},
		{"application/vnd.api+json", `{} {}`, false},
		{"text/plain", `{bad json`, true},
		{"application/octet-stream", "\xff\x00", true},
		{"application/jsonl", `{"a":1}` + "\n" + `{"b":2}`, true}, // not application/json
	} {
		ev := eventfeed.Event{Feed: "orders", ID: "urn:x:1", Type: "t", ContentType: tc.contentType, Data: []byte(tc.data)}
		err := ev.Validate()
		if tc.valid && err != nil || !tc.valid && !errors.Is(err, eventfeed.ErrInvalidEvent) {
			t.Errorf("Validate(%q, %q) = %v, want valid %v", tc.contentType, tc.data, err, tc.valid)
		}
	}
}

// TestInvalidJSONRefused checks that every way into a log refuses JSON
// that is not: the stores, and the publisher's AtomPub POST (raw body and
// Atom entry). The command line is tested in cmd/eventfeed.
func TestInvalidJSONRefused(t *testing.T) {
	ctx := context.Background()
	bad := eventfeed.Event{Feed: "orders", ID: "urn:x:bad", Type: "order.placed", Data: []byte(`{bad json`)}

	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	mem := memory.NewLog(memory.Options{})
	for name, l := range map[string]store.Log{"memory": mem, "sqlite": sq} {
		if _, err := l.Append(ctx, bad); !errors.Is(err, eventfeed.ErrInvalidEvent) {
			t.Errorf("%s: Append(%q) = %v, want ErrInvalidEvent", name, bad.Data, err)
		}
	}

	h, err := publisher.New(mem, publisher.Config{Authorize: func(*http.Request, string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	entry := `<entry xmlns="http://www.w3.org/2005/Atom"><id>urn:x:2</id><title>t</title>
<updated>2026-11-26T12:00:00Z</updated><author><name>a</name></author>
<category term="order.placed"/><content type="application/json">{bad json</content></entry>`
	for _, tc := range []struct{ contentType, body string }{
		{"application/json", `{bad json`},
		{"application/merge-patch+json", `{"a":`},
		{"application/atom+xml;type=entry", entry},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.contentType)
		req.Header.Set("Event-Type", "order.placed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s %q: status %d, want 400", tc.contentType, tc.body, resp.StatusCode)
		}
	}
	if feeds, err := mem.Feeds(ctx); err != nil || len(feeds) != 0 {
		t.Errorf("after the refused appends the log has feeds %+v (%v), want none", feeds, err)
	}
}
