package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/internal/uuid"
	"github.com/eventfeed/eventfeed/poller"
	"github.com/eventfeed/eventfeed/publisher"
	"github.com/eventfeed/eventfeed/store"
	"github.com/eventfeed/eventfeed/store/memory"
)

// DefaultEncryptSubjects is how many subjects the events of the encrypted
// catch-up are spread over, when CatchupConfig.Subjects is zero: about a
// hundred events per subject at the default size, as a person's or an
// order's history has several.
const DefaultEncryptSubjects = 1000

// DefaultEncryptEvents is the default size of the encrypted catch-up's
// feeds, which are held in memory.
const DefaultEncryptEvents = 100_000

// TargetEncryptedRatio is the target of the encrypted catch-up: events/s
// of an encrypted feed over those of the same feed in the clear.
const TargetEncryptedRatio = 0.8

// EncryptedCatchupResult is the outcome of the catchup scenario with
// CatchupConfig.Encrypt: the same events caught up from a feed in the
// clear and from an encrypted one, in one run.
type EncryptedCatchupResult struct {
	Scenario   string         `json:"scenario"`
	Machine    Machine        `json:"machine"`
	Events     int            `json:"events"`
	Subjects   int            `json:"subjects"`
	RandomData bool           `json:"random_data"`
	Runs       []EncryptedRun `json:"runs"`
	Targets    struct {
		Ratio float64 `json:"encrypted_ratio"`
	} `json:"targets"`
}

// EncryptedRun is the catch-up of one page size over one protocol, in the
// clear and encrypted.
type EncryptedRun struct {
	PageSize int    `json:"page_size"`
	Protocol string `json:"protocol"`
	// Events is how many events each catch-up applied.
	Events                   uint64  `json:"events"`
	ClearSeconds             float64 `json:"clear_seconds"`
	ClearEventsPerSecond     float64 `json:"clear_events_per_s"`
	EncryptedSeconds         float64 `json:"encrypted_seconds"`
	EncryptedEventsPerSecond float64 `json:"encrypted_events_per_s"`
	// ClearWireRead and EncryptedWireRead are the bytes each catch-up
	// read on its connections, HTTP headers included.
	ClearWireRead     int64 `json:"clear_wire_read_bytes"`
	EncryptedWireRead int64 `json:"encrypted_wire_read_bytes"`
	// KeyRequests is how many keys the encrypted catch-up fetched.
	KeyRequests int64 `json:"key_requests"`
	// Ratio is EncryptedEventsPerSecond / ClearEventsPerSecond.
	Ratio float64 `json:"encrypted_ratio"`
}

// catchupEncrypted measures, for each page size and protocol, a poller
// catching up into an SQLite replica with a feed of events in the clear,
// then with the same events encrypted, both served by a publisher on a
// memory Log in this process (the SQLite Log does not encrypt yet).
func catchupEncrypted(ctx context.Context, env *Env, cfg CatchupConfig) (*EncryptedCatchupResult, error) {
	subjects := cfg.Subjects
	if subjects <= 0 {
		subjects = DefaultEncryptSubjects
	}
	res := &EncryptedCatchupResult{Scenario: "catchup-encrypt", Machine: startMachine(), Events: cfg.Events, Subjects: subjects, RandomData: cfg.RandomData}
	res.Targets.Ratio = TargetEncryptedRatio
	for _, size := range cfg.PageSizes {
		logs := make(map[bool]*memory.Log)
		for _, enc := range []bool{false, true} {
			l, err := seedMemory(ctx, env, cfg.Events, subjects, size, enc, cfg.RandomData)
			if err != nil {
				return nil, err
			}
			logs[enc] = l
		}
		// An untimed catch-up first: the first one after seeding pays for
		// the collection of what seeding left, which would count against
		// the feed in the clear.
		if _, _, _, _, err := catchupMemory(ctx, env, logs[false], size, ProtocolAtom, false); err != nil {
			return nil, err
		}
		for _, protocol := range cfg.Protocols {
			run := EncryptedRun{PageSize: size, Protocol: protocol}
			for _, enc := range []bool{false, true} {
				st, secs, keys, wire, err := catchupMemory(ctx, env, logs[enc], size, protocol, enc)
				if err != nil {
					return nil, err
				}
				eps := perSecond(int64(st.Events), time.Duration(secs*float64(time.Second)))
				if st.Events != uint64(cfg.Events) {
					return nil, fmt.Errorf("bench: catch-up applied %d events of %d", st.Events, cfg.Events)
				}
				run.Events = st.Events
				if enc {
					run.EncryptedEventsPerSecond, run.EncryptedSeconds, run.KeyRequests, run.EncryptedWireRead = eps, secs, keys, wire
				} else {
					run.ClearEventsPerSecond, run.ClearSeconds, run.ClearWireRead = eps, secs, wire
				}
			}
			run.Ratio = ratio(run.EncryptedEventsPerSecond, run.ClearEventsPerSecond)
			env.logf("catchup -encrypt, page size %d, %s: %.0f events/s in the clear, %.0f encrypted (%.2f)",
				size, protocol, run.ClearEventsPerSecond, run.EncryptedEventsPerSecond, run.Ratio)
			res.Runs = append(res.Runs, run)
		}
		for _, l := range logs {
			l.Close()
		}
	}
	res.Machine.finish()
	return res, nil
}

// seedMemory returns a memory Log holding a feed of n events in pages of
// pageSize, about subjects subjects in turn, encrypted or not; with
// random, the letters of their data are random (the same in both feeds).
func seedMemory(ctx context.Context, env *Env, n, subjects, pageSize int, encrypt, random bool) (*memory.Log, error) {
	rnd := rand.New(rand.NewPCG(1, 2))
	l := memory.NewLog(memory.Options{PageSize: pageSize, Encrypt: encrypt})
	const batch = 1000
	events := make([]eventfeed.Event, 0, batch)
	for i := 1; i <= n; i++ {
		ev := env.event(benchFeed, i)
		ev.Subject = "item-" + strconv.Itoa(i%subjects)
		if random {
			// The padding between the quotes of "pad":"…".
			d := ev.Data
			if start := bytes.Index(d, []byte(`"pad":"`)); start >= 0 {
				for j := start + len(`"pad":"`); j < len(d)-2; j++ {
					d[j] = byte('a' + rnd.IntN(26))
				}
			}
		}
		events = append(events, ev)
		if len(events) == batch || i == n {
			if _, err := l.Append(ctx, events...); err != nil {
				return nil, fmt.Errorf("bench: seed: %w", err)
			}
			events = events[:0]
		}
	}
	return l, nil
}

// catchupMemory catches up with the feed of log, served in this process,
// into a new SQLite replica, and returns the poller's Stats, the seconds
// it took, the key requests it made and the bytes it read.
func catchupMemory(ctx context.Context, env *Env, log store.Log, pageSize int, protocol string, encrypt bool) (poller.Stats, float64, int64, int64, error) {
	h, err := publisher.New(log, publisher.Config{
		Prefix:        "/feeds",
		AuthorizeKeys: func(*http.Request, string) error { return nil },
	})
	if err != nil {
		return poller.Stats{}, 0, 0, 0, err
	}
	defer h.Close()
	var keys atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/keys/") {
			keys.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	name := "clear"
	if encrypt {
		name = "encrypted"
	}
	replica, err := openReplica(ctx, filepath.Join(env.Dir, fmt.Sprintf("catchup-%s-%d-%s-%s-replica.db", name, pageSize, protocol, uuid.NewURN()[9:])))
	if err != nil {
		return poller.Stats{}, 0, 0, 0, err
	}
	defer replica.Close()
	var w wire
	client := w.client(4 + 4) // pages, and keys fetched at once
	defer client.CloseIdleConnections()
	source := srv.URL + "/feeds/" + benchFeed
	var p interface {
		Sync(context.Context) error
		Stats() poller.Stats
	}
	if protocol == ProtocolHTTPFeeds {
		p, err = poller.NewHTTPFeed(source+"/events", replica, poller.Config{Client: client})
	} else {
		p, err = poller.New(source, replica, poller.Config{Client: client})
	}
	if err != nil {
		return poller.Stats{}, 0, 0, 0, err
	}
	runtime.GC()
	start := time.Now()
	if err := p.Sync(ctx); err != nil {
		return poller.Stats{}, 0, 0, 0, fmt.Errorf("bench: catch-up (%s): %w", name, err)
	}
	secs := time.Since(start).Seconds()
	return p.Stats(), secs, keys.Load(), w.read.Load(), nil
}

// WriteTable prints r as a table.
func (r *EncryptedCatchupResult) WriteTable(w io.Writer) error {
	data := "JSON"
	if r.RandomData {
		data = "JSON of random letters"
	}
	t := table{
		title: fmt.Sprintf("catchup -encrypt: %d events of ~%d B %s about %d subjects, publisher (memory Log, this process) -> poller -> SQLite replica, in the clear and encrypted\n%s",
			r.Events, eventSize, data, r.Subjects, r.Machine.String()),
		header: []string{"page size", "protocol", "clear s", "clear events/s", "encrypted s", "encrypted events/s", "clear wire MiB", "encrypted wire MiB", "key requests", "encrypted/clear"},
	}
	for _, run := range r.Runs {
		t.add(n(int64(run.PageSize)), run.Protocol, f(run.ClearSeconds, 2), f(run.ClearEventsPerSecond, 0),
			f(run.EncryptedSeconds, 2), f(run.EncryptedEventsPerSecond, 0), f(mb(run.ClearWireRead), 1), f(mb(run.EncryptedWireRead), 1),
			n(run.KeyRequests), f(run.Ratio, 2))
	}
	t.add("target", "", "", "", "", "", "", "", "", fmt.Sprintf(">= %.2f", r.Targets.Ratio))
	t.notes = []string{
		"the same events, sealed per subject (JWE, AES-256-GCM) in the encrypted feed; the poller fetches each subject's key once (GET {feed}/keys/{subject}) and opens every event before the replica applies it.",
		"both publishers run in this process on memory Logs, one after the other, so that the comparison holds only the encryption (not an SQLite Log's reads).",
	}
	return t.write(w)
}
