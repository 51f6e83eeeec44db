package poller_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// sealedEnv is a publisher of an encrypted memory Log whose keys are
// served for "Bearer secret", counting the key requests; fail, while
// positive, answers that many key requests 503.
type sealedEnv struct {
	log     *memory.Log
	srv     *httptest.Server
	keyReqs atomic.Int64
	fail    atomic.Int64
}

// tamperLog flips a byte of the sealed data of one event when it is read.
type tamperLog struct {
	*memory.Log
	id string
}

func (l tamperLog) Read(ctx context.Context, feed string, from, to uint64) ([]eventfeed.Event, error) {
	evs, err := l.Log.Read(ctx, feed, from, to)
	for i := range evs {
		if evs[i].ID == l.id {
			d := bytes.Clone(evs[i].Data)
			d[len(d)-3] ^= 'A' ^ 'B' // in the tag: still Base64
			evs[i].Data = d
		}
	}
	return evs, err
}

func newSealedEnv(t *testing.T, tamper string) *sealedEnv {
	t.Helper()
	e := &sealedEnv{log: memory.NewLog(memory.Options{Encrypt: true, PageSize: 3})}
	_, err := e.log.Append(context.Background(),
		eventfeed.Event{Feed: "people", ID: "urn:uuid:1", Type: "person.named", Subject: "ada", Data: []byte(`{"name":"Ada"}`)},
		eventfeed.Event{Feed: "people", ID: "urn:uuid:2", Type: "person.named", Subject: "bob", Data: []byte(`{"name":"Bob"}`)},
		eventfeed.Event{Feed: "people", ID: "urn:uuid:3", Type: "census.taken", Data: []byte(`{"count":2}`)},
		eventfeed.Event{Feed: "people", ID: "urn:uuid:4", Type: "person.moved", Subject: "ada", ContentType: "text/plain", Data: []byte("Paris")},
		eventfeed.Event{Feed: "people", ID: "urn:uuid:5", Type: "person.moved", Subject: "bob", ContentType: "text/plain", Data: []byte("Rome")},
	)
	if err != nil {
		t.Fatal(err)
	}
	var h *publisher.Handler
	cfg := publisher.Config{AuthorizeKeys: func(r *http.Request, _ string) error {
		if r.Header.Get("Authorization") != "Bearer secret" {
			return publisher.ErrUnauthorized
		}
		return nil
	}}
	if tamper != "" {
		h, err = publisher.New(tamperLog{e.log, tamper}, cfg)
	} else {
		h, err = publisher.New(e.log, cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/feeds/", http.StripPrefix("/feeds", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/keys/") {
			e.keyReqs.Add(1)
			if e.fail.Add(-1) >= 0 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
		}
		h.ServeHTTP(w, r)
	})))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Close()
		h.Close()
	})
	return e
}

// plain is what the consumer should see of the events, by ID: "" for an
// erased one.
var plain = map[string]string{
	"urn:uuid:1": `{"name":"Ada"}`,
	"urn:uuid:2": `{"name":"Bob"}`,
	"urn:uuid:3": `{"count":2}`,
	"urn:uuid:4": "Paris",
	"urn:uuid:5": "Rome",
}

func follow(t *testing.T, httpFeed bool, source string, r *memory.Replica, cfg poller.Config) error {
	t.Helper()
	cfg.Backoff = poller.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}
	if httpFeed {
		f, err := poller.NewHTTPFeed(source+"/events", r, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return f.Sync(context.Background())
	}
	p, err := poller.New(source, r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p.Sync(context.Background())
}

func TestSealedEvents(t *testing.T) {
	for _, httpFeed := range []bool{false, true} {
		name := "atom"
		if httpFeed {
			name = "http-feed"
		}
		t.Run(name, func(t *testing.T) {
			e := newSealedEnv(t, "")
			e.fail.Store(1) // the first key request fails, and is retried
			source := e.srv.URL + "/feeds/people"
			r := memory.NewReplica(nil)
			if err := follow(t, httpFeed, source, r, poller.Config{KeyToken: "secret"}); err != nil {
				t.Fatal(err)
			}
			got := r.Applied()
			if len(got) != len(plain) {
				t.Fatalf("applied %d events, want %d", len(got), len(plain))
			}
			for _, ev := range got {
				if string(ev.Data) != plain[ev.ID] || ev.ContentType == eventfeed.EncryptedContentType {
					t.Errorf("event %s: %s %q, want %q", ev.ID, ev.ContentType, ev.Data, plain[ev.ID])
				}
			}
			// Two subjects, one retry: each key is fetched once.
			if n := e.keyReqs.Load(); n != 3 {
				t.Errorf("%d key requests, want 3 (2 keys and a retry)", n)
			}

			// Erase ada: the existing consumer gets the tombstone.
			if _, err := e.log.Erase(context.Background(), "people", "ada"); err != nil {
				t.Fatal(err)
			}
			if err := follow(t, httpFeed, source, r, poller.Config{KeyToken: "secret"}); err != nil {
				t.Fatal(err)
			}
			got = r.Applied()
			if last := got[len(got)-1]; last.Type != eventfeed.TypeErased || last.Subject != "ada" || len(last.Data) != 0 {
				t.Errorf("last event applied = %+v, want ada's tombstone", last)
			}

			// A fresh consumer: ada's events erased, bob's intact.
			fresh := memory.NewReplica(nil)
			if err := follow(t, httpFeed, source, fresh, poller.Config{KeyToken: "secret"}); err != nil {
				t.Fatal(err)
			}
			got = fresh.Applied()
			if len(got) != len(plain)+1 {
				t.Fatalf("applied %d events, want %d", len(got), len(plain)+1)
			}
			for _, ev := range got {
				switch {
				case ev.Type == eventfeed.TypeErased:
				case ev.Subject == "ada":
					if !ev.Erased() || ev.Data != nil || ev.ContentType != eventfeed.EncryptedContentType || ev.Type == "" {
						t.Errorf("erased event %s: %+v", ev.ID, ev)
					}
				case string(ev.Data) != plain[ev.ID] || ev.Erased():
					t.Errorf("event %s: %q, want %q", ev.ID, ev.Data, plain[ev.ID])
				}
			}
		})
	}
}

func TestSealedEventsWithoutKey(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "guess", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSealedEnv(t, "")
			r := memory.NewReplica(nil)
			err := follow(t, false, e.srv.URL+"/feeds/people", r, poller.Config{KeyToken: tc.token})
			var he *poller.HTTPError
			if !errors.Is(err, poller.ErrNoKey) || !errors.As(err, &he) || he.Status != tc.status {
				t.Fatalf("Sync = %v, want ErrNoKey with status %d", err, tc.status)
			}
			if got := r.Applied(); len(got) != 0 {
				t.Errorf("applied %d events without their keys", len(got))
			}
			// Given the token, the consumer goes on from where it stopped.
			if err := follow(t, false, e.srv.URL+"/feeds/people", r, poller.Config{KeyToken: "secret"}); err != nil {
				t.Fatal(err)
			}
			if got := r.Applied(); len(got) != len(plain) {
				t.Errorf("applied %d events, want %d", len(got), len(plain))
			}
		})
	}
}

func TestTamperedEvent(t *testing.T) {
	e := newSealedEnv(t, "urn:uuid:4")
	r := memory.NewReplica(nil)
	err := follow(t, false, e.srv.URL+"/feeds/people", r, poller.Config{KeyToken: "secret", Prefetch: -1})
	if !errors.Is(err, eventfeed.ErrDecrypt) {
		t.Fatalf("Sync = %v, want ErrDecrypt", err)
	}
	// Pages are applied one at a time (no prefetch): the first page
	// (events 1-3) is applied, nothing of the second.
	got := r.Applied()
	if len(got) != 3 {
		t.Fatalf("applied %d events, want the first page's 3", len(got))
	}
	for _, ev := range got {
		if string(ev.Data) != plain[ev.ID] {
			t.Errorf("event %s: %q", ev.ID, ev.Data)
		}
	}
}

// An Atom feed stored in the clear may carry data of type
// application/jose: without a key link, it is not sealed, and is handed
// on as it is.
func TestJOSEWithoutKeyLink(t *testing.T) {
	e := newPubEnv(t, 10, publisher.Config{})
	jws := []byte("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")
	if _, err := e.log.Append(context.Background(), eventfeed.Event{Feed: "signed", ID: "urn:uuid:j", Type: "signed", Subject: "s", ContentType: "application/jose", Data: jws}); err != nil {
		t.Fatal(err)
	}
	r := memory.NewReplica(nil)
	if err := follow(t, false, e.url("signed"), r, poller.Config{}); err != nil {
		t.Fatal(err)
	}
	if got := r.Applied(); len(got) != 1 || !bytes.Equal(got[0].Data, jws) || got[0].ContentType != "application/jose" {
		t.Fatalf("applied %+v", got)
	}
}

// BenchmarkCatchUpEncrypted catches up with 100,000 events about 5,000
// subjects (pages of 500), from a feed in the clear and from the same
// events encrypted, alternating (ABBA) within one run: the ratio of
// their rates is what encryption costs. "warm" serves pages the
// publishers had rendered before (the consumer's side alone: decoding,
// fetching 5,000 keys, opening); "cold" gives each catch-up a new
// publisher, which renders and compresses each page on the way.
func BenchmarkCatchUpEncrypted(b *testing.B) {
	const n = 100_000
	allow := func(*http.Request, string) error { return nil }
	cfg := publisher.Config{PageCacheSize: 1000, PageCacheBytes: 1 << 30, AuthorizeKeys: allow}
	envs := [2]*pubEnv{
		newPubEnv(b, 500, cfg),
		newPubEnvOver(b, memory.NewLog(memory.Options{PageSize: 500, Encrypt: true}), cfg),
	}
	names := [2]string{"clear", "encrypted"}
	for _, e := range envs {
		benchLog(b, e, n)
		if err := newPoller(b, e.url("orders"), discardReplica{}, poller.Config{}).Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	for _, publishers := range []string{"warm", "cold"} {
		for _, replica := range []string{"discard", "sqlite"} {
			b.Run(publishers+"/"+replica, func(b *testing.B) {
				open := func(int) store.Replica { return discardReplica{} }
				if replica == "sqlite" {
					open = openSQLite(b)
				}
				var elapsed, cpu [2]time.Duration
				for i := range b.N {
					for j := range 2 {
						k := j ^ i%2
						b.StopTimer()
						r := open(2*i + j)
						source := envs[k].url("orders")
						if publishers == "cold" {
							source = newPubEnvOver(b, envs[k].log, cfg).url("orders")
						}
						p := newPoller(b, source, r, poller.Config{})
						b.StartTimer()
						start, cpu0 := time.Now(), cpuTime(b)
						if err := p.Sync(context.Background()); err != nil {
							b.Fatal(err)
						}
						cpu[k] += cpuTime(b) - cpu0
						elapsed[k] += time.Since(start)
						b.StopTimer()
						if st := p.Stats(); st.Events != n {
							b.Fatalf("%s: applied %d events, want %d", names[k], st.Events, n)
						}
						if c, ok := r.(interface{ Close() error }); ok {
							c.Close()
						}
						b.StartTimer()
					}
				}
				var rate [2]float64
				for k := range envs {
					rate[k] = float64(n*b.N) / elapsed[k].Seconds()
					b.ReportMetric(rate[k], names[k]+"-events/s")
					b.ReportMetric(float64(cpu[k].Nanoseconds())/float64(n*b.N), names[k]+"-cpu-ns/event")
				}
				b.ReportMetric(rate[1]/rate[0], "encrypted/clear")
			})
		}
	}
}
