package publisher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/seal"
	"github.com/eventfeed/eventfeed/metrics"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// keyServer serves log under /feeds/ with keys for "Bearer secret".
func keyServer(t *testing.T, log store.Log, authorize func(*http.Request, string) error) string {
	t.Helper()
	h, err := publisher.New(log, publisher.Config{Prefix: "/feeds", AuthorizeKeys: authorize})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	return srv.URL + "/feeds/"
}

func bearerSecret(r *http.Request, _ string) error {
	switch r.Header.Get("Authorization") {
	case "Bearer secret":
		return nil
	case "":
		return publisher.ErrUnauthorized
	}
	return errors.New("wrong token")
}

func get(t *testing.T, method, u, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func encryptedLog(t *testing.T) *memory.Log {
	t.Helper()
	log := memory.NewLog(memory.Options{Encrypt: true})
	_, err := log.Append(context.Background(),
		eventfeed.Event{Feed: "people", ID: "urn:uuid:1", Type: "person.named", Subject: "ada", Data: []byte(`{"name":"Ada Lovelace"}`)},
		eventfeed.Event{Feed: "people", ID: "urn:uuid:2", Type: "person.named", Subject: "team/b c", Data: []byte(`{"name":"Grace Hopper"}`)},
		eventfeed.Event{Feed: "people", ID: "urn:uuid:3", Type: "census.taken", Data: []byte(`{"count":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	return log
}

func TestKeyLinks(t *testing.T) {
	log := encryptedLog(t)
	base := keyServer(t, log, bearerSecret)
	resp, body := get(t, "GET", base+"people", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET people: %s", resp.Status)
	}
	for _, plain := range []string{"Ada Lovelace", "Grace Hopper"} {
		if bytes.Contains(body, []byte(plain)) {
			t.Errorf("the page holds %q", plain)
		}
	}
	f, err := feed.Decode(bytes.NewReader(body), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	docURL, _ := url.Parse(base + "people")
	for _, e := range f.Entries {
		href := e.Link(feed.RelKey)
		if e.Subject == "" {
			if href != "" || e.Content.Type != "application/json" {
				t.Errorf("entry %s without subject: key link %q, content %s", e.ID, href, e.Content.Type)
			}
			continue
		}
		if e.Content.Type != eventfeed.EncryptedContentType || href == "" {
			t.Fatalf("entry %s: content %s, key link %q", e.ID, e.Content.Type, href)
		}
		ref, _ := url.Parse(href)
		keyURL := docURL.ResolveReference(ref).String()
		if want := base + "people/keys/" + url.PathEscape(e.Subject); keyURL != want {
			t.Errorf("key link of %s = %s, want %s", e.ID, keyURL, want)
		}
		kresp, doc := get(t, "GET", keyURL, "secret")
		if kresp.StatusCode != 200 || kresp.Header.Get("Content-Type") != publisher.MediaTypeJWK || kresp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET %s: %s %q %q", keyURL, kresp.Status, kresp.Header.Get("Content-Type"), kresp.Header.Get("Cache-Control"))
		}
		key, kid, err := seal.ParseJWK(doc)
		if err != nil || kid != e.Subject {
			t.Fatalf("key of %s: kid %q, %v", e.Subject, kid, err)
		}
		aead, _ := seal.NewAEAD(key)
		plain, h, err := seal.Open(aead, e.Content.Body, e.ID, e.Subject)
		if err != nil || !bytes.Contains(plain, []byte(`"name"`)) || h.Cty != "application/json" {
			t.Errorf("open %s: %q %+v %v", e.ID, plain, h, err)
		}
	}

	// The other views show sealed events without their data.
	for _, view := range []string{"people/json", "people/rss", "people/events"} {
		resp, body := get(t, "GET", base+view, "")
		if resp.StatusCode != 200 || bytes.Contains(body, []byte("Lovelace")) {
			t.Errorf("GET %s: %s, plaintext shown: %v", view, resp.Status, bytes.Contains(body, []byte("Lovelace")))
		}
	}

	// The entry document carries the link too.
	_, body = get(t, "GET", base+"people", "")
	sub, _ := feed.Decode(bytes.NewReader(body), feed.DecodeOptions{}, nil)
	self, _ := url.Parse(sub.Entries[0].Link(feed.RelSelf))
	_, body = get(t, "GET", docURL.ResolveReference(self).String(), "")
	e, err := feed.DecodeEntry(bytes.NewReader(body), feed.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := url.Parse(e.Link(feed.RelKey))
	if got := docURL.ResolveReference(self).ResolveReference(ref).String(); got != base+"people/keys/ada" {
		t.Errorf("entry document's key link resolves to %s", got)
	}
}

func TestKeyEndpoint(t *testing.T) {
	log := encryptedLog(t)
	if _, err := log.Erase(context.Background(), "people", "ada"); err != nil {
		t.Fatal(err)
	}
	clear := memory.NewLog(memory.Options{})
	if _, err := clear.Append(context.Background(), eventfeed.Event{Feed: "plain", ID: "urn:uuid:9", Type: "t", Subject: "s", ContentType: "application/jose", Data: []byte("a..b.c.d")}); err != nil {
		t.Fatal(err)
	}
	enc := keyServer(t, log, bearerSecret)
	timed := keyServer(t, metrics.NewTimedLog(log, "memory"), bearerSecret)
	none := keyServer(t, log, nil)
	notKeyring := keyServer(t, struct{ store.Log }{log}, bearerSecret)
	plain := keyServer(t, clear, bearerSecret)

	for _, tc := range []struct {
		name, method, url, token string
		status                   int
		problem                  string // the problem type, or "" for a key
	}{
		{"key", "GET", enc + "people/keys/team%2Fb%20c", "secret", 200, ""},
		{"through a wrapper", "GET", timed + "people/keys/team%2Fb%20c", "secret", 200, ""},
		{"head", "HEAD", enc + "people/keys/team%2Fb%20c", "secret", 200, ""},
		{"no credentials", "GET", enc + "people/keys/team%2Fb%20c", "", 401, "about:blank"},
		{"wrong credentials", "GET", enc + "people/keys/team%2Fb%20c", "guess", 403, "about:blank"},
		{"unauthorized asks for an erased one", "GET", enc + "people/keys/ada", "", 401, "about:blank"},
		{"erased", "GET", enc + "people/keys/ada", "secret", 410, eventfeed.ProblemErased},
		{"erased, head", "HEAD", enc + "people/keys/ada", "secret", 410, ""},
		{"unknown subject", "GET", enc + "people/keys/nobody", "secret", 404, "about:blank"},
		{"unknown feed", "GET", enc + "nobody/keys/ada", "secret", 404, "about:blank"},
		{"bad feed name", "GET", enc + "No%20Feed/keys/ada", "secret", 404, "about:blank"},
		{"post", "POST", enc + "people/keys/ada", "secret", 405, "about:blank"},
		{"keys not served", "GET", none + "people/keys/team%2Fb%20c", "secret", 403, "about:blank"},
		{"log keeps no keys", "GET", notKeyring + "people/keys/team%2Fb%20c", "secret", 404, "about:blank"},
		{"feed not encrypted", "GET", plain + "plain/keys/s", "secret", 404, "about:blank"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.method, tc.url, tc.token)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: %s, want %d: %s", tc.method, tc.url, resp.Status, tc.status, body)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if tc.method == "HEAD" {
				if len(body) != 0 {
					t.Errorf("HEAD answered a body")
				}
				return
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
			if tc.problem == "" {
				if _, kid, err := seal.ParseJWK(body); err != nil || kid != "team/b c" {
					t.Errorf("key %s: kid %q %v", body, kid, err)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var p struct {
				Type   string
				Status int
				Detail string
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Type == "" {
				p.Type = "about:blank"
			}
			if p.Type != tc.problem || p.Status != tc.status || p.Detail == "" {
				t.Errorf("problem %+v, want type %s", p, tc.problem)
			}
			if tc.status == 401 && strings.Contains(p.Detail, "ada") {
				t.Errorf("a refusal tells about the subject: %s", p.Detail)
			}
		})
	}

	// A feed stored in the clear links no key, whatever its content type.
	_, body := get(t, "GET", plain+"plain", "")
	if bytes.Contains(body, []byte(feed.RelKey)) {
		t.Errorf("an unencrypted feed links keys:\n%s", body)
	}
}
