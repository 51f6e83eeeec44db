package seal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventfeed/eventfeed"
)

func TestSealOpen(t *testing.T) {
	aead, err := NewAEAD(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	ev := eventfeed.Event{ID: "urn:uuid:1", Subject: "customer-7", ContentType: "application/json", Data: []byte(`{"name":"Ada"}`)}
	sealed := Seal(aead, &ev)
	if bytes.Contains(sealed, []byte("Ada")) || strings.Count(string(sealed), ".") != 4 {
		t.Fatalf("sealed = %s", sealed)
	}
	plain, h, err := Open(aead, sealed, ev.ID, ev.Subject)
	if err != nil || string(plain) != string(ev.Data) || h.Cty != "application/json" || h.Kid != "customer-7" {
		t.Fatalf("Open = %q %+v %v", plain, h, err)
	}

	other, _ := NewAEAD(NewKey())
	for name, try := range map[string]func() error{
		"other key":     func() error { _, _, err := Open(other, sealed, ev.ID, ev.Subject); return err },
		"other event":   func() error { _, _, err := Open(aead, sealed, "urn:uuid:2", ev.Subject); return err },
		"other subject": func() error { _, _, err := Open(aead, sealed, ev.ID, "customer-8"); return err },
		"flipped byte": func() error {
			b := bytes.Clone(sealed)
			i := bytes.LastIndexByte(b, '.') - 2
			b[i] ^= 1
			if b[i] == '.' {
				b[i] = 'A'
			}
			_, _, err := Open(aead, b, ev.ID, ev.Subject)
			return err
		},
		"truncated": func() error { _, _, err := Open(aead, sealed[:len(sealed)-3], ev.ID, ev.Subject); return err },
		"not a JWE": func() error { _, _, err := Open(aead, []byte(`{"name":"Ada"}`), ev.ID, ev.Subject); return err },
		"empty":     func() error { _, _, err := Open(aead, nil, ev.ID, ev.Subject); return err },
	} {
		if err := try(); !errors.Is(err, eventfeed.ErrDecrypt) {
			t.Errorf("%s: err = %v, want ErrDecrypt", name, err)
		}
	}
}

func TestJWK(t *testing.T) {
	key := NewKey()
	got, kid, err := ParseJWK(MarshalJWK("s", key))
	if err != nil || !bytes.Equal(got, key) || kid != "s" {
		t.Fatalf("ParseJWK = %x %q %v", got, kid, err)
	}
	for _, doc := range []string{`{}`, `{"kty":"RSA","k":"AA"}`, `{"kty":"oct","k":"AAAA"}`, `not json`} {
		if _, _, err := ParseJWK([]byte(doc)); err == nil {
			t.Errorf("ParseJWK(%s) = nil error", doc)
		}
	}
}

func TestWrap(t *testing.T) {
	kek, _ := NewAEAD(NewKey())
	key := NewKey()
	w := Wrap(kek, key, KeyAAD("f", "s"))
	if bytes.Contains(w, key) {
		t.Fatal("wrapped key holds the key")
	}
	if got, err := Unwrap(kek, w, KeyAAD("f", "s")); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %x %v", got, err)
	}
	if _, err := Unwrap(kek, w, KeyAAD("f", "t")); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Unwrap for another subject: %v", err)
	}
	if _, err := Unwrap(nil, w, KeyAAD("f", "s")); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Unwrap without the KEK: %v", err)
	}
	if got, err := Unwrap(nil, Wrap(nil, key, ""), ""); err != nil || !bytes.Equal(got, key) {
		t.Errorf("no KEK: %x %v", got, err)
	}
}

func BenchmarkSeal(b *testing.B) {
	aead, _ := NewAEAD(NewKey())
	ev := eventfeed.Event{ID: "urn:uuid:0190d5c6-6c1e-7000-8000-000000000001", Subject: "order-42", Data: bytes.Repeat([]byte("x"), 300)}
	b.ReportAllocs()
	for b.Loop() {
		Seal(aead, &ev)
	}
}

func BenchmarkOpen(b *testing.B) {
	aead, _ := NewAEAD(NewKey())
	ev := eventfeed.Event{ID: "urn:uuid:0190d5c6-6c1e-7000-8000-000000000001", Subject: "order-42", Data: bytes.Repeat([]byte("x"), 300)}
	sealed := Seal(aead, &ev)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Open(aead, sealed, ev.ID, ev.Subject); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFormat1 pins the JWE that stored parts of Format1 rebuild to: a
// store keeps only the parts, so a change of the header's encoding would
// make every stored event fail to open. Change the format, not this test.
func TestFormat1(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	aead, err := NewAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	const (
		id      = "urn:uuid:0b9c0f4e-8f63-4c53-9d3a-3f1f6f3b2a10"
		subject = "customer-7"
		want    = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwiY3R5IjoiYXBwbGljYXRpb24vanNvbiIsImtpZCI6ImN1c3RvbWVyLTciLCJlaWQiOiJ1cm46dXVpZDowYjljMGY0ZS04ZjYzLTRjNTMtOWQzYS0zZjFmNmYzYjJhMTAifQ" +
			"..bm9uY2UtMTJieXRl.Hv_Dj8VvDZ-SAeNvWF8.CNAd3OsJw4sXaBpwdsY1pw"
	)
	parts, _ := hex.DecodeString("6e6f6e63652d3132627974651effc38fc56f0d9f9201e36f585f08d01ddceb09c38b17681a7076c635a7")
	got, err := Compact(Format1, "application/json", subject, id, parts)
	if err != nil || string(got) != want {
		t.Fatalf("Compact = %s, %v\nwant %s", got, err, want)
	}
	plain, h, err := Open(aead, got, id, subject)
	if err != nil || string(plain) != `{"name":"Ada"}` || h.Cty != "application/json" {
		t.Fatalf("Open = %q %+v %v", plain, h, err)
	}
	if got := string(AppendHeader(nil, "", "s", "i")); got != `{"alg":"dir","enc":"A256GCM","kid":"s","eid":"i"}` {
		t.Errorf("header without cty = %s", got)
	}
	for _, bad := range []struct {
		version int
		parts   []byte
	}{{0, parts}, {2, parts}, {Format1, parts[:27]}, {Format1, nil}} {
		if _, err := Compact(bad.version, "application/json", subject, id, bad.parts); !errors.Is(err, ErrMalformed) || !errors.Is(err, eventfeed.ErrDecrypt) {
			t.Errorf("Compact(%d, %d bytes) = %v, want ErrMalformed", bad.version, len(bad.parts), err)
		}
	}
}

// TestSealParts: the parts and Compact give a JWE that opens, for every
// kind of string the header may carry, and the header is the JSON that
// encoding/json writes for it.
func TestSealParts(t *testing.T) {
	aead, err := NewAEAD(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "a", `quote " and \ backslash`, "<tag> & amp", "ünïcødé ✓ 𝄞", "line\u2028sep\u2029", "tab\tnl\ncr\rbs\bff\fnul\x00esc\x1b del\x7f", "bad \xff utf-8 \xc3"} {
		ev := eventfeed.Event{ID: "id " + s, Subject: "subject " + s, ContentType: "text/plain; charset=\"utf-8\"", Data: []byte("data " + s)}
		hdr := AppendHeader(nil, ev.MediaType(), ev.Subject, ev.ID)
		j, _ := json.Marshal(Header{Alg: "dir", Enc: "A256GCM", Cty: ev.MediaType(), Kid: ev.Subject, EID: ev.ID})
		if string(hdr) != string(j) {
			t.Errorf("%q: header\n%s\nwant\n%s", s, hdr, j)
		}
		var h Header
		if err := json.Unmarshal(hdr, &h); err != nil || (utf8.ValidString(s) && (h.Kid != ev.Subject || h.EID != ev.ID || h.Cty != ev.MediaType())) {
			t.Errorf("%q: header %s decodes to %+v, %v", s, hdr, h, err)
		}
		parts := SealParts(aead, &ev)
		if len(parts) != nonceSize+len(ev.Data)+tagSize {
			t.Errorf("%q: %d bytes of parts for %d of data", s, len(parts), len(ev.Data))
		}
		sealed, err := Compact(Format1, ev.MediaType(), ev.Subject, ev.ID, parts)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(s) {
			continue // the header names the replacement character: not this event
		}
		plain, _, err := Open(aead, sealed, ev.ID, ev.Subject)
		if err != nil || string(plain) != string(ev.Data) {
			t.Errorf("%q: Open = %q, %v", s, plain, err)
		}
		if _, _, err := Open(aead, Seal(aead, &ev), ev.ID, ev.Subject); err != nil {
			t.Errorf("%q: Open(Seal) = %v", s, err)
		}
	}
}

// TestParseHeader checks that the direct reading of AppendHeader's headers
// gives what encoding/json gives, for strings that need escapes as well
// (which encoding/json reads), and that headers Seal never writes still
// parse or fail as JSON does.
func TestParseHeader(t *testing.T) {
	strs := []string{"", "order-42", "application/json", "application/cloudevents+json", `quo"te`, `back\slash`, "tab\there",
		"<b>&amp;</b>", "line\u2028sep", "ünïcødé", "\xff\xfe", "ctl\x01", "\u00e9\u4e16\U0001f600"}
	for _, cty := range strs {
		for _, kid := range strs {
			raw := AppendHeader(nil, cty, kid, "urn:uuid:"+kid)
			got, err := parseHeader(raw)
			var want Header
			if jerr := json.Unmarshal(raw, &want); jerr != nil || err != nil || got != want {
				t.Errorf("%s: parseHeader = %+v, %v; encoding/json = %+v, %v", raw, got, err, want, jerr)
			}
		}
	}
	for _, raw := range []string{
		`{"enc":"A256GCM","alg":"dir","kid":"a","eid":"b"}`,           // another order
		`{ "alg":"dir","enc":"A256GCM","kid":"a","eid":"b"}`,          // white space
		`{"alg":"dir","enc":"A256GCM","kid":"a","eid":"b","x":1}`,     // another member
		`{"alg":"dir","enc":"A256GCM","kid":"a","eid":"b","kid":"c"}`, // a duplicate
		`{"alg":"dir","enc":"A256GCM","kid":"\u0061","eid":"b"}`,      // an escape
	} {
		got, err := parseHeader([]byte(raw))
		var want Header
		if jerr := json.Unmarshal([]byte(raw), &want); jerr != nil || err != nil || got != want {
			t.Errorf("%s: parseHeader = %+v, %v; encoding/json = %+v, %v", raw, got, err, want, jerr)
		}
	}
	for _, raw := range []string{`{"alg":"dir","enc":"A256GCM","kid":"a","eid":"b"`, `{"alg":"RSA1_5","enc":"A256GCM","kid":"a","eid":"b"}`, `{"alg":"dir","enc":"A256GCM","kid":"a,"eid":"b"}`, ``} {
		if h, err := parseHeader([]byte(raw)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: parseHeader = %+v, %v, want ErrMalformed", raw, h, err)
		}
	}
}

// FuzzParseHeader checks that whatever the direct reading accepts,
// encoding/json reads the same.
func FuzzParseHeader(f *testing.F) {
	f.Add(AppendHeader(nil, "application/json", "order-42", "urn:uuid:1"))
	f.Add(AppendHeader(nil, "", "a\"b", "c<d"))
	f.Add([]byte(`{"alg":"dir","enc":"A256GCM","kid":"a","eid":"b"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, ok := parseFormat1(raw)
		if !ok {
			return
		}
		var want Header
		if err := json.Unmarshal(raw, &want); err != nil || h != want {
			t.Fatalf("%q: read as %+v; encoding/json: %+v, %v", raw, h, want, err)
		}
	})
}
