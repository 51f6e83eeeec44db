package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store/memory"
)

// forgingLog alters the sealed data of every event of the feed "forged"
// as it is read, as a tampering cache or proxy would.
type forgingLog struct{ *memory.Log }

func (l forgingLog) Read(ctx context.Context, name string, from, to uint64) ([]eventfeed.Event, error) {
	evs, err := l.Log.Read(ctx, name, from, to)
	if name == "forged" {
		for i := range evs {
			d := bytes.Clone(evs[i].Data)
			d[len(d)-3] ^= 'A' ^ 'B'
			evs[i].Data = d
		}
	}
	return evs, err
}

// latest is a projection keeping the latest data of each subject, which
// removes a subject on its tombstone.
type latest struct {
	mu   sync.Mutex
	data map[string]string
}

func (l *latest) apply(ev eventfeed.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case ev.Type == eventfeed.TypeErased:
		delete(l.data, ev.Subject)
	case ev.Subject != "":
		l.data[ev.Subject] = string(ev.Data)
	}
	return nil
}

func (l *latest) get(subject string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.data[subject]
	return d, ok
}

// TestErasureThroughNginx erases a subject of an encrypted feed whose
// pages a real nginx cache holds: the cached pages do not change, a new
// consumer reads the other subject and nothing of the erased one, an
// existing consumer removes it on the tombstone, and nginx never keeps a
// key.
func TestErasureThroughNginx(t *testing.T) {
	nginx := testenv.Command(t, "nginx")
	ctx := context.Background()
	log := memory.NewLog(memory.Options{Encrypt: true, PageSize: 2})
	for i := 1; i <= 3; i++ {
		_, err := log.Append(ctx,
			eventfeed.Event{Feed: "people", ID: fmt.Sprintf("urn:ada:%d", i), Type: "person.noted", Subject: "ada", Data: []byte(fmt.Sprintf(`{"note":"ADA-SECRET-%d"}`, i))},
			eventfeed.Event{Feed: "people", ID: fmt.Sprintf("urn:bob:%d", i), Type: "person.noted", Subject: "bob", Data: []byte(fmt.Sprintf(`{"note":"BOB-DATA-%d"}`, i))})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := log.Append(ctx, eventfeed.Event{Feed: "forged", ID: "urn:forged:1", Type: "person.noted", Subject: "eve", Data: []byte(`{"note":"EVE"}`)}); err != nil {
		t.Fatal(err)
	}
	h, err := publisher.New(forgingLog{log}, publisher.Config{Prefix: "/feeds", AuthorizeKeys: bearer("k")})
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(h)
	t.Cleanup(func() { upstream.Close(); h.Close() })
	proxy := startNginx(t, nginx, strings.TrimPrefix(upstream.URL, "http://"))
	source := proxy + "/feeds/people"

	// fetch GETs u through nginx as the poller does (gzip, not decoded).
	fetch := func(u string, header ...string) (*http.Response, []byte) {
		t.Helper()
		resp, body := get(t, u, append([]string{"Accept-Encoding", "gzip"}, header...)...)
		return resp, []byte(body)
	}
	gunzip := func(b []byte) string {
		t.Helper()
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return string(b)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}

	// An existing consumer, before the erasure.
	existing := &latest{data: make(map[string]string)}
	existingReplica := memory.NewReplica(existing.apply)
	catchUp := func(r *memory.Replica, token string) error {
		p, err := poller.New(source, r, poller.Config{KeyToken: token})
		if err != nil {
			t.Fatal(err)
		}
		return p.Sync(ctx)
	}
	if err := catchUp(existingReplica, "k"); err != nil {
		t.Fatal(err)
	}
	if d, _ := existing.get("ada"); d != `{"note":"ADA-SECRET-3"}` {
		t.Fatalf("existing consumer has ada = %q", d)
	}

	// Cache every archive page and entry: three full pages of two.
	_, sub := get(t, source)
	first, err := feed.Decode(strings.NewReader(sub), feed.DecodeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	page1 := resolve(t, source, first.Link(feed.RelFirst))
	epochURL := strings.TrimSuffix(page1, "pages/1")
	var urls []string
	for k := 1; k <= 3; k++ {
		urls = append(urls, fmt.Sprintf("%spages/%d", epochURL, k))
	}
	for seq := 1; seq <= 6; seq++ {
		urls = append(urls, fmt.Sprintf("%sentries/%d", epochURL, seq))
	}
	cached := make(map[string][]byte)
	for _, u := range urls {
		fetch(u)
		resp, body := fetch(u)
		if resp.StatusCode != 200 || resp.Header.Get("X-Cache-Status") != "HIT" {
			t.Fatalf("GET %s again: %s, X-Cache-Status %q", u, resp.Status, resp.Header.Get("X-Cache-Status"))
		}
		if plain := gunzip(body); strings.Contains(plain, "ADA-SECRET") || strings.Contains(plain, "BOB-DATA") {
			t.Fatalf("%s holds plaintext:\n%s", u, plain)
		}
		cached[u] = body
	}

	// The keys through nginx: served, never cached, never to a client
	// without the token.
	keyURL := func(subject string) string { return source + "/keys/" + subject }
	for range 2 {
		resp, _ := fetch(keyURL("ada"), "Authorization", "Bearer k")
		if resp.StatusCode != 200 || resp.Header.Get("X-Cache-Status") == "HIT" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("key of ada through nginx: %s, X-Cache-Status %q, Cache-Control %q",
				resp.Status, resp.Header.Get("X-Cache-Status"), resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := fetch(keyURL("ada")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("key of ada through nginx without the token: %s", resp.Status)
	}

	if _, err := log.Erase(ctx, "people", "ada"); err != nil {
		t.Fatal(err)
	}

	// The cached pages are what they were, and still served from the cache.
	for _, u := range urls {
		resp, body := fetch(u)
		if resp.Header.Get("X-Cache-Status") != "HIT" || !bytes.Equal(body, cached[u]) {
			t.Errorf("GET %s after the erasure: X-Cache-Status %q, same bytes %v", u, resp.Header.Get("X-Cache-Status"), bytes.Equal(body, cached[u]))
		}
	}
	if resp, body := fetch(keyURL("ada"), "Authorization", "Bearer k"); resp.StatusCode != http.StatusGone || !bytes.Contains(body, []byte(eventfeed.ProblemErased)) {
		t.Errorf("key of ada through nginx after the erasure: %s %s", resp.Status, body)
	}
	if resp, _ := fetch(keyURL("bob"), "Authorization", "Bearer k"); resp.StatusCode != 200 {
		t.Errorf("key of bob through nginx after the erasure: %s", resp.Status)
	}

	// A new consumer through the cache: bob intact, nothing of ada.
	fresh := memory.NewReplica(nil)
	if err := catchUp(fresh, "k"); err != nil {
		t.Fatal(err)
	}
	var bobs, adas, tombstones int
	for _, ev := range fresh.Applied() {
		if bytes.Contains(ev.Data, []byte("ADA-SECRET")) {
			t.Errorf("new consumer got ada's data: %s", ev.Data)
		}
		switch {
		case ev.Type == eventfeed.TypeErased:
			tombstones++
		case ev.Subject == "ada":
			adas++
			if !ev.Erased() {
				t.Errorf("ada's event %s is not erased: %+v", ev.ID, ev)
			}
		case ev.Subject == "bob":
			bobs++
			if !strings.HasPrefix(string(ev.Data), `{"note":"BOB-DATA-`) || ev.ContentType != "application/json" {
				t.Errorf("bob's event %s: %s %q", ev.ID, ev.ContentType, ev.Data)
			}
		}
	}
	if bobs != 3 || adas != 3 || tombstones != 1 {
		t.Errorf("new consumer: %d of bob's events, %d of ada's, %d tombstones; want 3, 3, 1", bobs, adas, tombstones)
	}

	// The existing consumer drops ada on the tombstone, keeps bob.
	if err := catchUp(existingReplica, "k"); err != nil {
		t.Fatal(err)
	}
	if d, ok := existing.get("ada"); ok {
		t.Errorf("existing consumer still holds ada: %q", d)
	}
	if d, _ := existing.get("bob"); d != `{"note":"BOB-DATA-3"}` {
		t.Errorf("existing consumer has bob = %q", d)
	}

	// Bad input: no key token, and ciphertext altered on the way.
	noToken := memory.NewReplica(nil)
	if err := catchUp(noToken, ""); !errors.Is(err, poller.ErrNoKey) || len(noToken.Applied()) != 0 {
		t.Errorf("consumer without a key token: %v, %d events applied", err, len(noToken.Applied()))
	}
	forged := memory.NewReplica(nil)
	p, err := poller.New(proxy+"/feeds/forged", forged, poller.Config{KeyToken: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(ctx); !errors.Is(err, eventfeed.ErrDecrypt) || len(forged.Applied()) != 0 {
		t.Errorf("altered ciphertext: %v, %d events applied", err, len(forged.Applied()))
	}
}
