package poller

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/store"
)

func TestOrder(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2025, 1, 1, 0, m, 0, 0, time.UTC) }
	ev := func(id string, m int, seq uint64) eventfeed.Event {
		return eventfeed.Event{ID: id, Time: at(m), Seq: seq}
	}
	tests := []struct {
		name    string
		in      []eventfeed.Event
		want    []string
		wantSeq bool
	}{
		{"empty", nil, []string{}, false},
		{"by seq", []eventfeed.Event{ev("b", 0, 2), ev("c", 9, 3), ev("a", 5, 1)}, []string{"a", "b", "c"}, true},
		{"some without seq: by time", []eventfeed.Event{ev("b", 2, 2), ev("a", 1, 0)}, []string{"a", "b"}, false},
		{"newest first, ties reversed", []eventfeed.Event{ev("d", 3, 0), ev("c", 2, 0), ev("b", 2, 0), ev("a", 1, 0)}, []string{"a", "b", "c", "d"}, false},
		{"oldest first, ties kept", []eventfeed.Event{ev("a", 1, 0), ev("b", 2, 0), ev("c", 2, 0), ev("d", 3, 0)}, []string{"a", "b", "c", "d"}, false},
		{"equal times: newest first assumed", []eventfeed.Event{ev("c", 1, 0), ev("b", 1, 0), ev("a", 1, 0)}, []string{"a", "b", "c"}, false},
		{"equal times: the order learned", []eventfeed.Event{ev("a", 1, 0), ev("b", 1, 0), ev("c", 1, 0)}, []string{"a", "b", "c"}, false},
		{"mostly oldest first", []eventfeed.Event{ev("a", 1, 0), ev("b", 2, 0), ev("c", 3, 0), ev("x", 0, 0), ev("d", 4, 0), ev("e", 4, 0)}, []string{"x", "a", "b", "c", "d", "e"}, false},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		gotSeq := sortBySeq(in)
		if !gotSeq {
			dir := direction(in)
			if dir == store.OrderUnknown && strings.Contains(tt.name, "learned") {
				dir = store.OrderOldestFirst
			}
			out := arrange(in, dir)
			if !slices.EqualFunc(in, tt.in, func(a, b eventfeed.Event) bool { return a.ID == b.ID }) {
				t.Errorf("%s: arrange changed the events it was given", tt.name)
			}
			in = out
		}
		got := make([]string, len(in))
		for i := range in {
			got[i] = in[i].ID
		}
		if !slices.Equal(got, tt.want) || gotSeq != tt.wantSeq {
			t.Errorf("%s: order = %v (seq %v), want %v (seq %v)", tt.name, got, gotSeq, tt.want, tt.wantSeq)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.v != "" {
			h.Set("Retry-After", tt.v)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestHeaders(t *testing.T) {
	ma := []struct {
		v    []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"public, max-age=0, must-revalidate"}, 0},
		{[]string{"public, max-age=31536000, immutable"}, 31536000 * time.Second},
		{[]string{"no-cache", `MAX-AGE="5"`}, 5 * time.Second},
		{[]string{"max-age=x"}, 0},
	}
	for _, tt := range ma {
		if got := maxAge(http.Header{"Cache-Control": tt.v}); got != tt.want {
			t.Errorf("maxAge(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
	wa := []struct {
		v    []string
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]string{"wait=20"}, 20 * time.Second, true},
		{[]string{"return=minimal, wait=5"}, 5 * time.Second, true},
		{[]string{"return=minimal"}, 0, false},
	}
	for _, tt := range wa {
		if got, ok := waitApplied(http.Header{"Preference-Applied": tt.v}); got != tt.want || ok != tt.ok {
			t.Errorf("waitApplied(%q) = %v, %v, want %v, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct{ a, b string }{
		{"http://Example.com/x", "http://example.com:80/y"},
		{"https://example.com/", "https://example.com:443"},
		{"http://[::1]:8080/", "http://[::1]:8080/z"},
	}
	for _, tt := range tests {
		ua, _ := url.Parse(tt.a)
		ub, _ := url.Parse(tt.b)
		if origin(ua) != origin(ub) {
			t.Errorf("origin(%s) = %s, origin(%s) = %s, want equal", tt.a, origin(ua), tt.b, origin(ub))
		}
	}
	ua, _ := url.Parse("http://example.com")
	ub, _ := url.Parse("https://example.com")
	if origin(ua) == origin(ub) {
		t.Errorf("http and https share origin %s", origin(ua))
	}
}

func TestLimitReader(t *testing.T) {
	tests := []struct {
		body  string
		limit int64
		err   error
	}{
		{"12345", 5, nil},
		{"123456", 5, feed.ErrTooLarge},
		{"", 0, nil},
	}
	for _, tt := range tests {
		lr := &limitReader{r: strings.NewReader(tt.body), n: tt.limit}
		b, err := io.ReadAll(lr)
		if !errors.Is(err, tt.err) || (tt.err == nil && string(b) != tt.body) {
			t.Errorf("limit %d over %q: read %q, %v; want %v", tt.limit, tt.body, b, err, tt.err)
		}
	}
	broken := &limitReader{r: io.MultiReader(strings.NewReader("ab"), errReader{}), n: 10}
	if _, err := io.ReadAll(broken); !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(broken.err, io.ErrUnexpectedEOF) {
		t.Errorf("read error: %v (recorded %v), want io.ErrUnexpectedEOF", err, broken.err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestBackoff(t *testing.T) {
	p := &Poller{cfg: withDefaults(Config{Backoff: Backoff{Min: 100 * time.Millisecond, Max: time.Second}})}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			if got := p.backoff(n); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
	if got := p.backoff(1000); got < 500*time.Millisecond || got > time.Second {
		t.Errorf("backoff(1000) = %v, want within the cap", got)
	}
}

func TestRecentIDs(t *testing.T) {
	tests := []struct {
		name string
		n    int
		add  []string
		in   []string // remembered after the adds
		out  []string // forgotten or never added
	}{
		{"empty", 3, nil, nil, []string{"a"}},
		{"below capacity", 3, []string{"a", "b"}, []string{"a", "b"}, []string{"c"}},
		{"full", 3, []string{"a", "b", "c"}, []string{"a", "b", "c"}, []string{"d"}},
		{"oldest forgotten", 3, []string{"a", "b", "c", "d", "e"}, []string{"c", "d", "e"}, []string{"a", "b"}},
		{"wraps twice", 2, []string{"a", "b", "c", "d", "e"}, []string{"d", "e"}, []string{"a", "b", "c"}},
		{"repeat keeps its place", 2, []string{"a", "b", "a", "c"}, []string{"b", "c"}, []string{"a"}},
		{"size one", 1, []string{"a", "b"}, []string{"b"}, []string{"a"}},
		{"size zero remembers one", 0, []string{"a", "b"}, []string{"b"}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecentIDs(tt.n)
			for _, id := range tt.add {
				r.add(id)
			}
			for _, id := range tt.in {
				if !r.contains(id) {
					t.Errorf("contains(%q) = false, want true", id)
				}
			}
			for _, id := range tt.out {
				if r.contains(id) {
					t.Errorf("contains(%q) = true, want false", id)
				}
			}
			if got, want := len(r.set), len(tt.in); got != want {
				t.Errorf("%d IDs remembered, want %d", got, want)
			}
		})
	}
}
