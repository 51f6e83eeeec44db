package browse

import (
	"strings"
	"testing"
)

func TestFormatPayload(t *testing.T) {
	cases := []struct {
		name, ctype, data string
		limit             int
		want              Payload
	}{
		{"json", "application/json", `{"a":[1,true],"b":"<x>"}`, 0,
			Payload{Kind: "json", Text: "{\n  \"a\": [\n    1,\n    true\n  ],\n  \"b\": \"<x>\"\n}", Shown: 24}},
		{"json suffix", "application/cloudevents+json; charset=utf-8", `[]`, 0, Payload{Kind: "json", Text: "[]", Shown: 2}},
		{"bad json", "application/json", `{bad`, 0, Payload{Kind: "text", Text: "{bad", Shown: 4}},
		{"json cut", "application/json", `{"a":"0123456789"}`, 6, Payload{Kind: "text", Text: `{"a":"`, Cut: true, Shown: 6}},
		{"xml", "application/atom+xml", `<a xmlns:p="urn:p"><p:b c="1&amp;2">t &lt; u</p:b><d/><!--n--></a>`, 0,
			Payload{Kind: "xml", Text: "<a xmlns:p=\"urn:p\">\n  <p:b c=\"1&amp;2\">t &lt; u</p:b>\n  <d></d>\n  <!--n-->\n</a>", Shown: 66}},
		{"bad xml", "text/xml", `<a><b></a>`, 0, Payload{Kind: "text", Text: "<a><b></a>", Shown: 10}},
		{"text", "text/plain; charset=utf-8", "line 1\nline 2", 0, Payload{Kind: "text", Text: "line 1\nline 2", Shown: 13}},
		{"text not utf-8", "text/plain", "\xff", 0, Payload{Kind: "binary", Text: "00000000  ff                                                |.|\n", Shown: 1}},
		{"binary", "application/octet-stream", "0123456789abcdef\x00", 0, Payload{Kind: "binary",
			Text: "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|\n" +
				"00000010  00                                                |.|\n", Shown: 17}},
		{"no media type", "", "{}", 0, Payload{Kind: "binary", Text: "00000000  7b 7d                                             |{}|\n", Shown: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := FormatPayload(c.ctype, []byte(c.data), c.limit)
			if got != c.want {
				t.Errorf("FormatPayload(%q, %q, %d)\n got %#v\nwant %#v", c.ctype, c.data, c.limit, got, c.want)
			}
		})
	}
}

func TestPayloadHTML(t *testing.T) {
	p := Payload{Text: `<script>"x" & 'y'</script>`}
	if got, want := string(p.HTML()), `&lt;script&gt;"x" &amp; 'y'&lt;/script&gt;`; got != want {
		t.Errorf("HTML() = %s, want %s", got, want)
	}
}

func TestStaticFile(t *testing.T) {
	for _, name := range []string{"app.js", "app.css"} {
		b, ctype, ok := StaticFile(name)
		if !ok || len(b) == 0 || !strings.Contains(ctype, "charset=utf-8") {
			t.Errorf("StaticFile(%q) = %d bytes, %q, %v", name, len(b), ctype, ok)
		}
	}
	for _, name := range []string{"", "../doc.go", "templates/feed.html", "static/app.js"} {
		if _, _, ok := StaticFile(name); ok {
			t.Errorf("StaticFile(%q) found a file", name)
		}
	}
}
