package publisher_test

import (
	"encoding/json"
	"encoding/xml"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/publisher"
)

type rssDoc struct {
	Channel struct {
		// RSS's link and atom:link, told apart by XMLName.Space.
		Links []struct {
			XMLName xml.Name
			Rel     string `xml:"rel,attr"`
			Href    string `xml:"href,attr"`
			Type    string `xml:"type,attr"`
			Text    string `xml:",chardata"`
		} `xml:"link"`
		Items []struct {
			Title    string `xml:"title"`
			Link     string `xml:"link"`
			GUID     string `xml:"guid"`
			PubDate  string `xml:"pubDate"`
			Category struct {
				Domain string `xml:"domain,attr"`
				Term   string `xml:",chardata"`
			} `xml:"category"`
		} `xml:"item"`
	} `xml:"channel"`
}

type jsonFeedDoc struct {
	Version string `json:"version"`
	FeedURL string `json:"feed_url"`
	NextURL string `json:"next_url"`
	Items   []struct {
		ID            string   `json:"id"`
		URL           string   `json:"url"`
		Title         string   `json:"title"`
		ContentText   string   `json:"content_text"`
		Tags          []string `json:"tags"`
		DatePublished string   `json:"date_published"`
	} `json:"items"`
}

// TestAlternates checks that RSS 2.0 and JSON Feed are served at URLs of
// their own, advertised by every Atom feed document, and that no URL
// varies by Accept: the Atom URLs serve Atom whatever is asked for. It
// follows the alternates with and without a BaseURL, and JSON Feed's
// next_url through the whole archive.
func TestAlternates(t *testing.T) {
	for _, mode := range []string{"relative", "BaseURL"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 3, publisher.Config{})
			if mode == "BaseURL" {
				h, err := publisher.New(e.log, publisher.Config{BaseURL: e.base})
				if err != nil {
					t.Fatal(err)
				}
				e.mount(h, "/feeds")
			}
			e.add("orders", 0, 7)
			docs := []string{e.url("orders"), e.pageURL("orders", 1), e.pageURL("orders", 2), e.pageURL("orders", 3)}
			for i, target := range docs {
				atomR := e.mustGet(target, "Accept: application/rss+xml, application/feed+json;q=0.9, application/atom+xml;q=0.1")
				if ct := atomR.Header.Get("Content-Type"); ct != feed.MediaTypeFeed {
					t.Errorf("%s asking for RSS: Content-Type %q, want %q: no URL varies by Accept", target, ct, feed.MediaTypeFeed)
				}
				if v := atomR.Header.Get("Vary"); v != "Accept-Encoding" {
					t.Errorf("%s: Vary %q, want Accept-Encoding", target, v)
				}
				ls := links(t, target, atomDoc(t, atomR.body).Links)
				for _, mt := range []string{feed.MediaTypeRSS, feed.MediaTypeJSONFeed} {
					alt := ls["alternate "+mt]
					if alt == "" {
						t.Errorf("%s: no alternate of type %s", target, mt)
						continue
					}
					r := e.mustGet(alt)
					if ct := r.Header.Get("Content-Type"); ct != mt {
						t.Errorf("%s: Content-Type %q, want %q", alt, ct, mt)
					}
					if v := r.Header.Get("Vary"); v != "Accept-Encoding" {
						t.Errorf("%s: Vary %q, want Accept-Encoding", alt, v)
					}
					if got, want := r.Header.Get("Cache-Control"), atomR.Header.Get("Cache-Control"); got != want {
						t.Errorf("%s: Cache-Control %q, want %q as its Atom document", alt, got, want)
					}
					if r.Header.Get("ETag") == atomR.Header.Get("ETag") {
						t.Errorf("%s: the same ETag as its Atom document", alt)
					}
					wantSeqs := seqRange(1+3*max(i-1, 0), min(3*max(i, 1), 7))
					if i == 0 {
						wantSeqs = seqRange(7, 7)
					}
					if mt == feed.MediaTypeRSS {
						checkRSS(t, e, alt, r.body, wantSeqs, mode == "BaseURL")
					} else {
						checkJSONFeed(t, e, alt, r.body, wantSeqs, mode == "BaseURL")
					}
				}
			}

			// Following next_url from the JSON subscription reads every
			// event once, newest page first.
			var ids []string
			next := e.url("orders/json")
			for n := 0; next != ""; n++ {
				if n > 10 {
					t.Fatal("next_url does not end")
				}
				var jf jsonFeedDoc
				if err := json.Unmarshal(e.mustGet(next).body, &jf); err != nil {
					t.Fatal(err)
				}
				for _, it := range jf.Items {
					ids = append(ids, it.ID)
				}
				if jf.NextURL != "" {
					next = resolve(t, next, jf.NextURL)
				} else {
					next = ""
				}
			}
			var want []string
			for _, page := range [][]int{{7}, {4, 5, 6}, {1, 2, 3}} {
				for _, i := range page {
					want = append(want, testEvent("orders", i).ID)
				}
			}
			if !slices.Equal(ids, want) {
				t.Errorf("items along next_url: %v, want %v", ids, want)
			}
		})
	}
}

func checkRSS(t *testing.T, e *env, docURL string, body []byte, seqs []int, absolute bool) {
	t.Helper()
	var d rssDoc
	if err := xml.Unmarshal(body, &d); err != nil {
		t.Fatalf("%s: %v", docURL, err)
	}
	checkURL := func(what, href, want string) {
		t.Helper()
		if absolute && href != want || !absolute && resolve(t, docURL, href) != want {
			t.Errorf("%s: %s %q, want %q (absolute: %v)", docURL, what, href, want, absolute)
		}
	}
	var link string
	selfs := 0
	for _, l := range d.Channel.Links {
		switch {
		case l.XMLName.Space == "":
			link = l.Text
		case l.XMLName.Space == feed.NS && l.Rel == "self" && l.Type == feed.MediaTypeRSS:
			selfs++
			checkURL("atom:link self", l.Href, docURL)
		default:
			t.Errorf("%s: unexpected link %+v", docURL, l)
		}
	}
	if selfs != 1 {
		t.Errorf("%s: %d atom:link rel=self of type %s, want 1", docURL, selfs, feed.MediaTypeRSS)
	}
	checkURL("channel link", link, e.url("orders/rss"))
	if len(d.Channel.Items) != len(seqs) {
		t.Fatalf("%s: %d items, want %d", docURL, len(d.Channel.Items), len(seqs))
	}
	for i, it := range d.Channel.Items {
		ev := testEvent("orders", seqs[i])
		if it.GUID != ev.ID || it.Title != ev.Type+" "+ev.Subject || it.Category.Term != ev.Type || it.Category.Domain != feed.DefaultCategoryScheme {
			t.Errorf("%s item %d: guid %q, title %q, category %+v; want %q, %q, %q", docURL, i, it.GUID, it.Title, it.Category, ev.ID, ev.Type+" "+ev.Subject, ev.Type)
		}
		if got, err := time.Parse(time.RFC1123Z, it.PubDate); err != nil || !got.Equal(ev.Time) {
			t.Errorf("%s item %d: pubDate %q, want %v", docURL, i, it.PubDate, ev.Time)
		}
		checkURL("item link", it.Link, e.entryURL("orders", seqs[i]))
	}
}

func checkJSONFeed(t *testing.T, e *env, docURL string, body []byte, seqs []int, absolute bool) {
	t.Helper()
	var d jsonFeedDoc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("%s: %v", docURL, err)
	}
	if d.Version != "https://jsonfeed.org/version/1.1" {
		t.Errorf("%s: version %q", docURL, d.Version)
	}
	if absolute && d.FeedURL != docURL || !absolute && resolve(t, docURL, d.FeedURL) != docURL {
		t.Errorf("%s: feed_url %q", docURL, d.FeedURL)
	}
	if len(d.Items) != len(seqs) {
		t.Fatalf("%s: %d items, want %d", docURL, len(d.Items), len(seqs))
	}
	for i, it := range d.Items {
		ev := testEvent("orders", seqs[i])
		if it.ID != ev.ID || it.ContentText != string(ev.Data) || !slices.Equal(it.Tags, []string{ev.Type}) {
			t.Errorf("%s item %d: id %q, content_text %q, tags %q; want %q, %q, [%q]", docURL, i, it.ID, it.ContentText, it.Tags, ev.ID, ev.Data, ev.Type)
		}
		if got, err := time.Parse(time.RFC3339, it.DatePublished); err != nil || !got.Equal(ev.Time) {
			t.Errorf("%s item %d: date_published %q, want %v", docURL, i, it.DatePublished, ev.Time)
		}
		if want := e.entryURL("orders", seqs[i]); absolute && it.URL != want || !absolute && resolve(t, docURL, it.URL) != want {
			t.Errorf("%s item %d: url %q, want %q", docURL, i, it.URL, want)
		}
		if absolute && !strings.HasPrefix(it.URL, "http") {
			t.Errorf("%s item %d: url %q is not absolute", docURL, i, it.URL)
		}
	}
}
