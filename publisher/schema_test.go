package publisher_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventfeed/eventfeed"
	"github.com/eventfeed/eventfeed/feed"
	"github.com/eventfeed/eventfeed/internal/testenv"
	"github.com/eventfeed/eventfeed/publisher"
)

// schemaDir returns the directory of the RELAX NG schemas of RFC 4287
// (atom.rnc) and RFC 5023 (app.rnc): the feed package's copies.
func schemaDir(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{
		filepath.Join("..", "feed", "testdata", "schema"),
		filepath.Join("..", "..", "shared", "conformance"),
	} {
		if _, err := os.Stat(filepath.Join(dir, "atom.rnc")); err == nil {
			return dir
		}
	}
	testenv.Missing(t, "the RELAX NG schemas (feed/testdata/schema)")
	return ""
}

// TestSchema validates every kind of document the publisher serves
// against the RFC 4287 and RFC 5023 schemas with jing: the service
// document, subscription documents, full, working and empty working
// pages, entries with each kind of content, and an append's answer, with
// relative and absolute links.
func TestSchema(t *testing.T) {
	jing := testenv.Command(t, "jing")
	dir := schemaDir(t)
	out := t.TempDir()
	var atomDocs, appDocs []string
	save := func(name string, body []byte, app bool) {
		path := filepath.Join(out, name)
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if app {
			appDocs = append(appDocs, path)
		} else {
			atomDocs = append(atomDocs, path)
		}
	}
	events := []eventfeed.Event{
		{ID: "urn:x:json", Type: "t.json", Subject: "s-1", Data: []byte(`{"a":"<b>&"}`)},
		{ID: "urn:x:text", Type: "t.text", ContentType: "text/plain; charset=utf-8", Data: []byte("a < b & c")},
		{ID: "urn:x:xml", Type: "t.xml", ContentType: "application/xml", Data: []byte(`<order xmlns="urn:o"><n>1</n></order>`)},
		{ID: "urn:x:bin", Type: "t.bin", ContentType: "application/octet-stream", Data: []byte{0, 1, 2, 0xff}},
		{ID: "urn:x:empty", Type: "t.empty", ContentType: "application/json"},
		{ID: "urn:x:html", Type: "t.html", ContentType: "text/html", Data: []byte("<p>hi</p>")},
	}
	for _, cfg := range []publisher.Config{
		{Authorize: allowAll},
		{BaseURL: "https://example.com/feeds/", Title: "Shop", Author: "shop team",
			EntryOptions: feed.EntryOptions{CategoryScheme: "urn:example:types"}},
	} {
		e := newEnv(t, 3, cfg)
		mode := "rel"
		if cfg.BaseURL != "" {
			mode = "abs"
		}
		for i := range events {
			ev := events[i]
			ev.Feed = "mixed"
			if _, err := e.mem.Append(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		e.add("orders", 0, 4)
		save(mode+"-service.xml", e.mustGet(e.url("/")).body, true)
		for _, name := range []string{"mixed", "orders"} {
			save(mode+"-"+name+"-sub.xml", e.mustGet(e.url(name)).body, false)
			for k := 1; k <= 3; k++ {
				if r := e.get(e.pageURL(name, k)); r.StatusCode == 200 {
					save(fmt.Sprintf("%s-%s-page%d.xml", mode, name, k), r.body, false)
				}
			}
		}
		for seq := range len(events) {
			save(fmt.Sprintf("%s-entry%d.xml", mode, seq+1), e.mustGet(e.entryURL("mixed", seq+1)).body, false)
		}
		if cfg.Authorize != nil {
			r := e.do("POST", e.url("orders"), strings.NewReader("{}"), "Content-Type: application/json", "Event-Type: t")
			save(mode+"-post.xml", r.body, false)
		}
	}
	for _, run := range []struct {
		schema string
		docs   []string
	}{{"atom.rnc", atomDocs}, {"app.rnc", appDocs}} {
		args := append([]string{"-c", filepath.Join(dir, run.schema)}, run.docs...)
		if b, err := exec.Command(jing, args...).CombinedOutput(); err != nil {
			t.Errorf("jing %s: %v\n%s", run.schema, err, b)
		}
	}
	if len(atomDocs) < 20 {
		t.Errorf("validated %d Atom documents, fewer than the test means to", len(atomDocs))
	}
}
